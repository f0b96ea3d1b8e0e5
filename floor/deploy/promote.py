"""Staged promotion: a network's executor goes to the next network (testnet to mainnet) only
through its health gates, and a failing gate refuses the promotion by name.

The gates, each judged on the source network (where the code has been running):
- `alerts`: no open critical alert: Alertmanager's (severity=critical, neither silenced nor
  inhibited) when the source's config names `metrics.alertmanager_url`; else the engine
  store's open alerts, every one of which counts (the store keeps no severity: an alert the
  engine raised itself is reason enough to stop).
- `reconciliation`: no open discrepancy in the source's store.
- `verified`: the source's executor matches its registry and the code (`floor deploy verify`).
- `same inputs`: the target's owner, operator, guardian and label give the same CREATE2
  address as the source's: the promoted executor is the one that was tested.
- `soak`: the soak's summary (the target's `soak_summary`, default docs/soak/summary.json)
  shows at least the target's `soak_min_cycles` cycles (336 for a mainnet), every cycle it
  planned run, and no invariant failure. A target that requires no cycles passes without one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from floor.deploy.apply import inputs_of
from floor.deploy.network import REPO_ROOT
from floor.deploy.verify import verify_network
from floor.errors import FloorError

if TYPE_CHECKING:
    from web3 import Web3

    from floor.config import Settings
    from floor.deploy.network import Network
    from floor.deploy.registry import Registry, Rules

ALERTMANAGER_TIMEOUT_S = 5


class PromotionRefused(FloorError):
    """A gate failed: the message names it and why."""


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"gate {self.name}: {'passed' if self.passed else 'FAILED'}: {self.detail}"


def critical_alerts(settings: Settings) -> tuple[str, list[str]]:
    """(where they were read, the open critical alerts, one line each)."""
    url = settings.metrics.alertmanager_url
    if url:
        params: dict[str, Any] = {"active": "true", "silenced": "false", "inhibited": "false"}
        params["filter"] = 'severity="critical"'
        response = requests.get(f"{url.rstrip('/')}/api/v2/alerts", params=params, timeout=ALERTMANAGER_TIMEOUT_S)
        response.raise_for_status()
        alerts = [a for a in response.json() if a.get("labels", {}).get("severity") == "critical"]
        lines = [
            f"{a['labels'].get('alertname', '?')} ({', '.join(f'{k}={v}' for k, v in sorted(a['labels'].items()) if k != 'alertname')})"
            for a in alerts
        ]
        return f"Alertmanager {url}", lines
    from floor.store import Store

    store = Store.from_settings(settings)
    return "the engine's store", [f"{a.kind} on {a.subject}: {a.detail}" for a in store.open_alerts()]


def open_discrepancies(settings: Settings) -> list[str]:
    from floor.store import Store

    store = Store.from_settings(settings)
    return [
        f"discrepancy {d.id} on chain {d.chain_id} {d.market} ({d.asset}): {d.relative_bps} bps"
        for d in store.open_discrepancies()
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def soak_gate(path: Path, min_cycles: int) -> Gate:
    """The soak summary's verdict: enough cycles, all it planned, no invariant failure; why
    not, in one line."""
    if not path.is_file():
        if min_cycles == 0:
            return Gate("soak", True, f"no soak required (soak_min_cycles 0) and no summary at {_shown(path)}")
        return Gate("soak", False, f"no summary at {_shown(path)}")
    try:
        summary = json.loads(path.read_text())
        cycles, planned = int(summary["cycles"]), int(summary["cycles_planned"])
        failures = int(summary["invariant_failures"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return Gate("soak", False, f"the summary at {_shown(path)} cannot be read: {type(exc).__name__}: {exc}")
    why = []
    if cycles < min_cycles:
        why.append(f"{cycles} of {min_cycles} cycles")
    elif cycles != planned:
        why.append(f"{cycles} of {planned} planned cycles")
    if failures:
        why.append(f"{failures} invariant failure{'s' if failures != 1 else ''}")
    if why:
        return Gate("soak", False, "; ".join(why))
    version = summary.get("version", "?")
    return Gate("soak", True, f"{cycles} cycles (of {min_cycles} required), no invariant failure, version {version}")


def gates(
    w3: Web3 | None,
    source: Network,
    registry: Registry,
    declared: Rules | None,
    settings: Settings | str,
    target: Network,
) -> list[Gate]:
    """Every gate's verdict (all are judged, so an operator sees each one that fails). `settings`
    is the source's engine config, or why it cannot be read; `w3` and `declared` may be None
    when the registry records no deployment (the chain is not asked)."""
    out = []
    if isinstance(settings, str):
        out.append(Gate("alerts", False, f"{source.name}'s config cannot be read: {settings}"))
        out.append(Gate("reconciliation", False, f"{source.name}'s config cannot be read: {settings}"))
    else:
        try:
            where, alerts = critical_alerts(settings)
            first = f": {alerts[0]}" if alerts else ""
            out.append(Gate("alerts", not alerts, f"{len(alerts)} open critical alert(s) in {where}{first}"))
        except (requests.RequestException, ValueError) as exc:
            out.append(Gate("alerts", False, f"alerts cannot be read: {exc}"))
        found = open_discrepancies(settings)
        first = f": {found[0]}" if found else ""
        out.append(Gate("reconciliation", not found, f"{len(found)} open discrepancy(ies){first}"))
    if registry.latest is None or w3 is None or declared is None:
        lines = [f"no deployment of {source.name} is recorded"]
    else:
        lines = verify_network(w3, source, registry.latest, declared, registry.entries[:-1])
    more = f" (and {len(lines) - 1} more: floor deploy verify {source.name})" if len(lines) > 1 else ""
    detail = f"{lines[0]}{more}" if lines else "the executor matches the registry and the code"
    out.append(Gate("verified", not lines, f"{source.name}: {detail}"))
    a, b = inputs_of(source).address, inputs_of(target).address
    out.append(Gate("same inputs", a == b, f"{source.name}'s executor {a}, {target.name}'s would be {b}"))
    out.append(soak_gate(target.soak_summary_path, target.soak_cycles_required))
    return out


def refuse_on_failure(results: list[Gate]) -> None:
    failed = [g for g in results if not g.passed]
    if failed:
        names = ", ".join(g.name for g in failed)
        raise PromotionRefused(f"promotion refused: gate {names} failed: " + "; ".join(g.detail for g in failed))
