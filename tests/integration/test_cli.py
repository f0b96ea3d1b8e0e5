"""The `floor` command line, run as a real process (the installed `floor` entry point) against
the session's Temporal server and anvil chains, with the engine's worker in this process:
operations with human amounts, status, positions read from the chains, the cooldown's
refusal, pause and resume, bad input refused before anything is sent, history, schedules."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from temporalio.service import RPCError

from activities.deps import Deps
from cli import outputs
from client import engine_config, ensure_engine, not_running
from floor.devnet.strategy import STRATEGY
from floor.store import Store
from tests.integration.engine_helpers import (
    ADMIN,
    OUTSIDER,
    TREASURY,
    engine_settings,
    fund,
    key,
    write_keystore,
)
from tests.integration.helpers import advance_time, balance, mint, positions_now
from tests.json_schema import cli_json
from workers.temporal import build_worker


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


async def test_allocate_status_positions_rebalance_history(temporal_env, stack, web3s, signer, task_queue, cli):
    settings = engine_settings(stack, task_queue)
    cli.use(settings)
    cli.key = ADMIN  # every command signed by one key: the history names it
    fund(settings, web3s)
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        # An operation never starts the engine: refused in one line that says how to.
        ran = await cli("rebalance")
        assert ran.code == 1 and ran.out == "", ran
        assert one_line(ran.err) == f"refused: {not_running(settings.engine_id)}"
        ran = await cli("configure", "--json")
        assert ran.code == 0 and cli_json(ran, outputs.ConfigureOutput)["started"], ran
        # Human amounts, converted with each token's decimals: the whole test treasury.
        ran = await cli("allocate", "1:USDC:600000", "1:WETH:300", "42161:USDC:400000.000", "--reason", "new capital")
        assert ran.code == 0, ran.err
        assert "allocate started: " in ran.out and "Web UI: http" in ran.out and "\ndone: " in ran.out, ran.out
        for chain_id, asset in TREASURY:  # every unit left the executors for the markets
            chain = settings.chain(chain_id)
            assert balance(web3s[chain_id], chain.token(asset).address, chain.executor) == 0

        status = cli_json(await cli("status", "--json"), outputs.StatusOutput)  # fits docs/cli-json.md
        assert status["state"] == "IDLE" and status["operation"] is None, status
        assert status["last"]["kind"] == "allocate" and status["last"]["status"] == "done", status
        assert status["ui_url"].endswith(f"/workflows/{settings.engine_id}")

        ran = await cli("positions", "--json")
        assert ran.code == 0, ran.err
        rows = cli_json(ran, outputs.PositionsOutput)["positions"]
        keys = [key(r["chain_id"], r["protocol"], r["market"]) for r in rows]
        assert keys == [key(c, p, m) for c, p, m, _ in STRATEGY]
        now = positions_now(settings, web3s, keys)
        held: dict[tuple[int, str], int] = {}
        for k, row in zip(keys, rows, strict=True):
            assert row["amount"] == str(now[k].amount) and row["withdrawable"] == row["amount"], row
            held[(k.chain_id, row["asset"])] = held.get((k.chain_id, row["asset"]), 0) + int(row["amount"])
            whole = Decimal(int(row["amount"])).scaleb(-row["decimals"])
            price = {"USDC": 1, "WETH": 3_000}[row["asset"]]  # the devnet oracle's prices
            assert abs(Decimal(row["value"]) - whole * price) <= Decimal("0.00000001"), row
            if k.protocol in ("aave-v3", "spark"):  # Aave publishes its rate
                assert row["apy_source"] == "quoted" and row["apy"] > 0, row
            else:  # a vault's is measured from its share price, when there is history
                assert row["apy_source"] in ("realised", None), row
        for (chain_id, asset), amount in TREASURY.items():  # less the vaults' share rounding
            assert 0 <= amount - held[(chain_id, asset)] <= 10, (chain_id, asset)

        # The vault's share price jumps and a month passes: a rebalance moves funds...
        vault = settings.chain(1).market("metamorpho", "steakUSDC").vault
        mint(web3s[1], settings.chain(1).token("USDC").address, vault, 1_500_000 * 10**6)
        advance_time(web3s[1], 30 * 86_400)
        ran = await cli("rebalance", "--json", "--reason", "drift")
        assert ran.code == 0, ran.err
        result = cli_json(ran, outputs.RebalanceOutput)
        assert result["status"] == "done" and result["moves"] and result["drift_before_bps"] > 500, result
        assert result["workflow_id"].startswith(f"{settings.engine_id}/rebalance-") and result["ui_url"]
        # ...and the next one is refused by the cooldown, in one line, with nothing on stdout.
        ran = await cli("rebalance")
        assert ran.code == 1 and ran.out == ""
        assert one_line(ran.err).startswith("refused: rebalance cooldown: the last rebalance that moved funds")

        ran = await cli("history", "--json")
        assert ran.code == 0, ran.err
        history = cli_json(ran, outputs.HistoryOutput)
        moves = [(t["from_state"], t["to_state"]) for t in history["transitions"]]
        assert moves == [
            ("IDLE", "ALLOCATING"),
            ("ALLOCATING", "IDLE"),
            ("IDLE", "REBALANCING"),
            ("REBALANCING", "IDLE"),
        ]
        assert history["transitions"][0]["actor"] == ADMIN.address  # the signer (no name in the book)
        assert history["transitions"][0]["reason"] == "new capital"
        assert [(r["kind"], r["status"]) for r in history["operations"]] == [
            ("allocate", "done"),
            ("rebalance", "done"),
        ]
        assert len((await cli("history", "--json", "--limit", "1")).json()["transitions"]) == 1

        # An operation with another config asks the engine as it is: the config is not sent.
        running = await engine_config(temporal_env.client, settings.engine_id)
        strategy = settings.strategy.model_copy(update={"min_rebalance_interval_s": 60})
        cli.use(settings.model_copy(update={"strategy": strategy}))
        ran = await cli("rebalance")  # still refused by the running engine's cooldown of an hour
        assert ran.code == 1 and one_line(ran.err).startswith("refused: rebalance cooldown"), ran
        assert await engine_config(temporal_env.client, settings.engine_id) == running
        # `floor configure` sends it, says what changed, and then that nothing does.
        ran = await cli("configure")
        assert ran.code == 0 and ran.out.splitlines() == ["policy.rebalance_cooldown_s: 3600 -> 60"], ran
        assert (await engine_config(temporal_env.client, settings.engine_id)).policy.rebalance_cooldown_s == 60
        ran = await cli("configure")
        assert ran.code == 0 and ran.out.splitlines() == ["nothing to change"], ran


async def test_bad_input_pause_resume_and_schedules(temporal_env, stack, web3s, signer, task_queue, cli):
    settings = engine_settings(stack, task_queue)
    cli.use(settings)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        # Bad amounts: exit 2, one line each, before Temporal or any chain hears of them.
        nonces = {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()}
        bad = {
            "1:USDC:1.0000001": "USDC has 6 decimals, the amount has 7 after the point",
            "1:USDC:0": "must be more than zero",
            "1:USDC:-5": "must be positive",
            "1:USDC:1e6": "not a plain decimal number",
            "10:USDC:1": "unknown chain '10'",
            "1:FOO:1": "has no token 'FOO'",
            "1:USDC": "expected CHAIN:ASSET:AMOUNT",
        }
        runs = await asyncio.gather(*(cli("allocate", spec) for spec in bad))
        for (spec, reason), ran in zip(bad.items(), runs, strict=True):
            assert ran.code == 2 and ran.out == "", (spec, ran)
            line = one_line(ran.err)
            assert line.startswith("error: ") and reason in line, (spec, line)
        assert {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()} == nonces
        with pytest.raises(RPCError):  # the engine was never even started
            await client.get_workflow_handle(settings.engine_id).describe()

        ran = await cli("pause", "--reason", "incident 42", "--by", "oncall", keyless=True)  # anyone may pause
        assert ran.code == 0 and "paused by oncall: incident 42" in ran.out, ran
        status = (await cli("status", "--json")).json()
        assert status["state"] == "PAUSED" and status["pause_reason"] == "incident 42", status
        assert (await cli("resume", "--reason", "all clear")).code == 0
        assert (await cli("status", "--json")).json()["state"] == "IDLE"
        ran = await cli("resume", "--reason", "again")
        assert ran.code == 1 and one_line(ran.err) == "refused: the engine is not paused (state IDLE)", ran

        # The circuit breakers: none open; a change the breaker's state refuses, or of no scope, says why.
        listed = await cli("risk", "breakers")
        assert listed.code == 0 and one_line(listed.out) == "every breaker is CLOSED", listed
        ran = await cli("risk", "half-open", "protocol:aave-v3", "--reason", "probe")
        assert ran.code == 1 and "only an OPEN breaker can be half-opened" in one_line(ran.err), ran
        ran = await cli("risk", "trip", "aave", "--reason", "hack")
        assert ran.code == 1 and "'aave' is not a breaker scope" in one_line(ran.err), ran
        ran = await cli("risk", "trip", "protocol:aave-v3", "--reason", "forum post", "--json")
        assert ran.code == 0 and ran.json()["event"]["to_state"] == "OPEN", ran
        assert "protocol:aave-v3: OPEN" in (await cli("risk", "breakers")).out

        first, second = [await cli("schedules", "apply", "--json") for _ in range(2)]
        try:
            assert first.code == second.code == 0, (first.err, second.err)
            assert not cli_json(first, outputs.SchedulesOutput)["config"]["changed"]  # the pause started it
            ids = first.json()["schedules"]
            assert (
                ids
                == second.json()["schedules"]
                == [
                    f"{settings.engine_id}/rebalance-check",
                    f"{settings.engine_id}/harvest-check",
                    f"{settings.engine_id}/reconcile-check",
                    f"{settings.engine_id}/risk-check",
                    f"{settings.engine_id}/exit-drill-check",
                ]
            )
        finally:
            for sid in first.json()["schedules"] if first.code == 0 else []:
                await client.get_schedule_handle(sid).delete()


async def test_signed_commands_need_a_key_refusals_are_audited_and_roles_change(
    temporal_env, stack, web3s, signer, task_queue, cli, tmp_path
):
    settings = engine_settings(stack, task_queue)
    settings = settings.model_copy(
        update={"store": settings.store.model_copy(update={"url": f"sqlite:///{tmp_path / 'audit.db'}"})}
    )
    store = Store.from_settings(settings)
    store.migrate()
    cli.use(settings)
    client = temporal_env.client
    outsider_key, password_file = write_keystore(OUTSIDER, tmp_path)
    as_outsider = ("--key", str(outsider_key), "--password-file", str(password_file))
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        # Without a key: one line saying how to give one, exit 2, nothing sent.
        for args in (("resume", "--reason", "x"), ("rebalance",), ("roles", "grant", OUTSIDER.address, "OPERATOR")):
            ran = await cli(*args, keyless=True)
            assert ran.code == 2 and ran.out == "", ran
            assert one_line(ran.err).startswith("error: no key: give --key KEYSTORE or set $FLOOR_KEY"), ran
        # A pause needs none: anyone may pause.
        ran = await cli("pause", "--reason", "drill", "--by", "oncall", keyless=True)
        assert ran.code == 0 and "paused by oncall: drill" in ran.out, ran

        # A key the engine gives no role: refused, and the refusal is in the audit log.
        ran = await cli("resume", "--reason", "let me", *as_outsider, keyless=True)
        assert ran.code == 1 and f"{OUTSIDER.address} has no role; resume needs OPERATOR" in one_line(ran.err), ran
        refused = store.audit_rows(signer=OUTSIDER.address, outcome="refused")
        assert [(r.kind, r.workflow_id) for r in refused] == [("resume", settings.engine_id)], refused
        assert "has no role" in refused[0].reason and refused[0].digest.startswith("0x")
        assert store.verify_audit() is None

        # An ADMIN grants it OPERATOR: its resume goes through; revoked, it is refused again.
        ran = await cli(
            "roles", "grant", OUTSIDER.address, "OPERATOR", "--name", "ops-bot", "--reason", "on call", "--json"
        )
        assert ran.code == 0, ran
        members = {m["account"]: m for m in cli_json(ran, outputs.RolesOutput)["members"]}
        assert (members[OUTSIDER.address]["role"], members[OUTSIDER.address]["name"]) == ("OPERATOR", "ops-bot")
        ran = await cli("resume", "--reason", "all clear", *as_outsider, keyless=True)
        assert ran.code == 0 and "ops-bot" in ran.out, ran
        listed = cli_json(await cli("roles", "list", "--json", keyless=True), outputs.RolesOutput)
        assert {m["account"] for m in listed["members"]} >= {ADMIN.address, OUTSIDER.address}
        ran = await cli("roles", "revoke", OUTSIDER.address, "--reason", "rotation", "--json")
        assert ran.code == 0, ran
        revoked = cli_json(ran, outputs.RolesOutput)
        assert revoked["answer"] and OUTSIDER.address not in {m["account"] for m in revoked["members"]}, revoked
        ran = await cli("pause", "--reason", "drill 2", keyless=True)
        assert ran.code == 0, ran
        ran = await cli("resume", "--reason", "again", *as_outsider, keyless=True)
        assert ran.code == 1 and "has no role" in one_line(ran.err), ran
