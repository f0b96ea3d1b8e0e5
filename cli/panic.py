"""A panic exit's result in words, per chain: what is out, what is queued, what stays and why."""

from __future__ import annotations

from datetime import timedelta

from floor.models import units


def panic_lines(chains: list[dict]) -> list[str]:
    lines = []
    for chain in chains:
        decimals = chain.get("decimals", {})

        def amount(value, asset: str, decimals: dict = decimals) -> str:
            return units(int(value), decimals.get(asset, 0), asset)

        out = ", ".join(amount(v, a) for a, v in sorted(chain.get("out", {}).items()) if int(v))
        lines.append(f"chain {chain['chain_id']}: out {out or 'nothing'}")
        for e in chain.get("exited", []):
            via = " through its instant-exit pool" if int(e.get("sold", 0)) else ""
            lines.append(
                f"  exited {e['market']}{via}: quoted {amount(e['quoted'], e['asset'])}, at least"
                f" {amount(e['min_out'], e['asset'])} ({e['slippage_bps']} bps against fair value)"
            )
        for q in chain.get("queued", []):
            wait = timedelta(seconds=int(q["wait_s"]))
            if q.get("paid_by", "claim") == "sweep":
                how = f"exits requested, swept to the executor in about {wait}"
            else:
                how = f"requests {', '.join(map(str, q['ids'])) or 'ids unknown'}, claimable in about {wait}"
                if q.get("claim_workflow_id"):
                    how += f", claimed into the executor by {q['claim_workflow_id']}"
            why = f": {q['reason']}" if q.get("reason") else ""
            lines.append(f"  queued {amount(q['amount'], q['asset'])} in {q['market']} ({how}){why}")
        for x in chain.get("left", []):
            lines.append(f"  left {amount(x['amount'], x['asset'])} in {x['market']}: {x['reason']}")
        if chain.get("transactions"):
            route = " (private relay)" if chain.get("private") else ""
            lines.append(f"  transactions{route}: {', '.join(chain['transactions'])}")
    lines.append("the engine stays PAUSED: resume it when the incident is over (floor resume)")
    return lines
