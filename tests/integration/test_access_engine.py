"""Access control enforced by the engine itself, on a real Temporal dev server and the anvil
chains: every command that changes what the engine does is a signed command checked in the
engine's validators (signature, role, freshness, replay, domain), through every door (a
service's `execute_update`, Temporal's own CLI with raw JSON); a pause stays open; operations
run only as the engine's children; the worker founds the role book from its own settings and
serves only its own engine id; the schedules' checks sign with the scheduler key; accepted
commands, role changes and state changes are rows of the audit log."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError

from activities.deps import Deps
from client.signing import signed
from floor.access.roles import Kind
from floor.catalogue import engine_input
from floor.config import AccessConfig, Settings
from floor.doors import DOORS
from floor.engine import EngineState, Operation
from floor.store import Store
from tests.integration.engine_helpers import (
    engine_settings,
    finished,
    fund,
    temporal_cli,
    wait_for,
)
from workers.temporal import build_worker

ADMIN: LocalAccount = Account.from_key(keccak(text="floor-access-test-admin"))
OPERATOR: LocalAccount = Account.from_key(keccak(text="floor-access-test-operator"))
VIEWER: LocalAccount = Account.from_key(keccak(text="floor-access-test-viewer"))
OUTSIDER: LocalAccount = Account.from_key(keccak(text="floor-access-test-outsider"))
SCHEDULER: LocalAccount = Account.from_key(keccak(text="floor-access-test-scheduler"))
AMOUNTS = [{"chainId": 1, "asset": "USDC", "amount": str(100_000 * 10**6)}]


def access_settings(stack, task_queue: str) -> Settings:
    """The test's engine: one founding ADMIN (so the last ADMIN can be tried) and a scheduler."""
    base = engine_settings(stack, task_queue)
    access = AccessConfig(admins=[ADMIN.address], scheduler_key={"private_key": SCHEDULER.key.hex()})
    return base.model_copy(update={"access": access})


def command(settings: Settings, kind: Kind, fields: dict, key: LocalAccount, *, now: int | None = None) -> dict:
    return signed(settings, kind, fields, key, now=now or int(time.time())).model_dump(mode="json")


async def refusal(handle: WorkflowHandle, name: str, payload: Any) -> str:
    """The update is refused in one line, non-retryable; its reason."""
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(name, payload)
    cause = caught.value.cause
    assert cause.non_retryable and "\n" not in cause.message, cause.message
    return cause.message


async def cli_refusal(client, engine_id: str, name: str, payload: Any) -> str:
    """The same through Temporal's own CLI with raw JSON: refused, one line, nothing applied."""
    code, _, err = await temporal_cli(
        client, "workflow", "update", "execute", "--workflow-id", engine_id, "--name", name,
        "--input", json.dumps(payload),
    )  # fmt: skip
    assert code != 0 and "retryable: false" in err and "\n" not in err.strip(), err
    return err


async def loaded(handle: WorkflowHandle) -> dict:
    return await wait_for(lambda: handle.query("roles"), 30, "the engine's role book")


async def test_signed_commands_are_the_only_way_to_move_the_treasury(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    settings = access_settings(stack, task_queue)
    client = temporal_env.client
    store = Store(f"sqlite:///{tmp_path}/floor.db")
    store.migrate()
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        # Started by anyone with any input: the strategy and the founders are the worker's own.
        forged = engine_input(settings).model_copy(update={"policy": engine_input(settings).policy.model_copy(
            update={"rebalance_cooldown_s": 0})})  # fmt: skip
        engine = await client.start_workflow(
            "EngineWorkflow", forged.model_dump(mode="json"), id=settings.engine_id, task_queue=task_queue
        )
        book = await loaded(engine)
        assert {a: g["role"] for a, g in book["members"].items()} == {
            ADMIN.address: "ADMIN",
            SCHEDULER.address: "OPERATOR",
        }
        assert (await engine.query("config"))["policy"]["rebalance_cooldown_s"] == 3600  # the config's, not the input's
        fund(settings, web3s)

        # -- roles: an ADMIN grants; nobody else can ---------------------------------------------
        grant = {"account": OPERATOR.address, "role": "OPERATOR", "name": "ops", "reason": "on call"}
        assert "needs ADMIN" in await refusal(engine, "grant_role", command(settings, Kind.GRANT_ROLE, grant, OUTSIDER))
        assert (await engine.execute_update("grant_role", command(settings, Kind.GRANT_ROLE, grant, ADMIN))).startswith(
            f"granted OPERATOR to {OPERATOR.address}"
        )
        viewer = {"account": VIEWER.address, "role": "VIEWER", "name": "auditor", "reason": "reads"}
        await engine.execute_update("grant_role", command(settings, Kind.GRANT_ROLE, viewer, ADMIN))

        # -- allocate: every wrong way is refused in one line, through both doors ----------------
        unsigned = {"by": "test", "reason": "new capital", "amounts": [{"chain_id": 1, "asset": "USDC", "amount": "1"}]}
        assert "not a signed command" in await refusal(engine, "allocate", unsigned)
        assert "not a signed command" in await cli_refusal(client, engine.id, "allocate", unsigned)
        fields = {"amounts": AMOUNTS, "reason": "new capital"}
        wrong = {
            "another key": (command(settings, Kind.ALLOCATE, fields, OUTSIDER), "has no role; allocate needs OPERATOR"),
            "a viewer": (command(settings, Kind.ALLOCATE, fields, VIEWER), "is a VIEWER; allocate needs OPERATOR"),
            "expired": (
                command(settings, Kind.ALLOCATE, fields, OPERATOR, now=int(time.time()) - 7200),
                "expired",
            ),
            "wrong domain": (
                command(
                    settings.model_copy(update={"engine": settings.engine.model_copy(update={"workflow_id": "other"})}),
                    Kind.ALLOCATE,
                    fields,
                    OPERATOR,
                ),
                "signed for engine 'other'",
            ),
        }
        tampered = command(settings, Kind.ALLOCATE, fields, OPERATOR)
        tampered["message"]["amounts"][0]["amount"] = str(500_000 * 10**6)
        wrong["tampered amount"] = (tampered, "signature does not match")
        for what, (payload, reason) in wrong.items():
            assert reason in await refusal(engine, "allocate", payload), what
            assert reason in await cli_refusal(client, engine.id, "allocate", payload), what

        accepted = command(settings, Kind.ALLOCATE, fields, OPERATOR)
        # The same command twice at once (often in one workflow task, past both validators):
        # the handler records the nonce before its first await, so one starts, one is a replay.
        answers = await asyncio.gather(*(engine.execute_update("allocate", accepted) for _ in range(2)),
                                       return_exceptions=True)  # fmt: skip
        failed = [a for a in answers if isinstance(a, WorkflowUpdateFailedError)]
        assert len(failed) == 1 and "replayed" in failed[0].cause.message, answers
        started = next(a for a in answers if not isinstance(a, BaseException))
        assert started["workflow_id"] == f"{settings.engine_id}/allocate-1"
        assert "replayed" in await refusal(engine, "allocate", accepted)
        assert "replayed" in await cli_refusal(client, engine.id, "allocate", accepted)
        result = await finished(client, settings.engine_id, Operation.ALLOCATE, started["workflow_id"])
        assert result.status == "done", result.summary
        status = await engine.query("status")
        assert status["operation"] is None and status["state"] == "IDLE"
        assert [t["actor"] for t in await engine.query("history")][-2] == "ops"  # the signer's name

        # -- request_capital: an ADMIN's -------------------------------------------------------
        chain = settings.chain(1)
        capital = {
            "chainId": 1,
            "asset": "USDC",
            "amount": str(1_000 * 10**6),
            "destination": chain.destinations[0],
            "deliverBy": 0,
            "partial": False,
            "exitPollSeconds": 3600,
            "reason": "invoice 4711",
        }
        unsigned_capital = {"chain_id": 1, "asset": "USDC", "amount": "1", "destination": chain.destinations[0]}
        assert "not a signed command" in await refusal(engine, "request_capital", unsigned_capital)
        assert "not a signed command" in await cli_refusal(client, engine.id, "request_capital", unsigned_capital)
        by_operator = command(settings, Kind.REQUEST_CAPITAL, capital, OPERATOR)
        assert "request_capital needs ADMIN" in await refusal(engine, "request_capital", by_operator)
        assert "request_capital needs ADMIN" in await cli_refusal(client, engine.id, "request_capital", by_operator)
        tampered = command(settings, Kind.REQUEST_CAPITAL, capital, ADMIN)
        tampered["message"]["destination"] = OUTSIDER.address
        assert "signature does not match" in await refusal(engine, "request_capital", tampered)
        started = await engine.execute_update(
            "request_capital", command(settings, Kind.REQUEST_CAPITAL, capital, ADMIN)
        )
        result = await finished(client, settings.engine_id, Operation.REQUEST_CAPITAL, started["workflow_id"])
        assert result.status == "done", result.summary

        # -- a pause is open (Temporal's CLI, unsigned); a resume is signed -------------------
        code, _, err = await temporal_cli(
            client, "workflow", "signal", "--workflow-id", engine.id, "--name", "pause_engine",
            "--input", '"oracle incident"',
        )  # fmt: skip
        assert code == 0, err
        await wait_for(lambda: _state(engine, EngineState.PAUSED), 20, "paused by the CLI's unsigned signal")
        await engine.signal("resume_engine", {"by": "anyone", "reason": "let me in"})  # ignored
        assert "not a signed command" in await refusal(engine, "resume", {"by": "anyone", "reason": "x"})
        answer = await engine.execute_update(
            "resume", command(settings, Kind.RESUME, {"reason": "feeds back"}, OPERATOR)
        )
        assert answer == "resumed by ops: feeds back"
        assert (await engine.execute_update("pause", {"by": "oncall", "reason": "drill"})).startswith(
            "paused by oncall"
        )
        await engine.execute_update("resume", command(settings, Kind.RESUME, {"reason": "drill over"}, OPERATOR))

        # -- roles again: revoke; the last ADMIN stays -------------------------------------------
        revoke = {"account": OPERATOR.address, "reason": "rota ends"}
        await engine.execute_update("revoke_role", command(settings, Kind.REVOKE_ROLE, revoke, ADMIN))
        assert OPERATOR.address not in (await engine.query("roles"))["members"]
        assert "has no role" in await refusal(
            engine, "allocate", command(settings, Kind.ALLOCATE, fields, OPERATOR)
        )  # fmt: skip
        last = {"account": ADMIN.address, "reason": "oops"}
        assert "last ADMIN" in await refusal(engine, "revoke_role", command(settings, Kind.REVOKE_ROLE, last, ADMIN))

        # -- the schedules' check signs with the scheduler key and is accepted --------------------
        answer = await client.execute_workflow(
            "EngineCheckWorkflow",
            {"engine_id": settings.engine_id, "kind": "risk"},
            id=f"{settings.engine_id}-check-{uuid.uuid4().hex[:6]}",
            task_queue=task_queue,
            result_type=str,
        )
        assert not answer.startswith("refused"), answer

        # -- operations run only as the engine's children ----------------------------------------
        allocate_start = next(d for d in DOORS if d.workflow == "AllocateWorkflow" and d.kind == "start").example
        raw_start = await client.start_workflow(
            "AllocateWorkflow", allocate_start, id=f"{settings.engine_id}/allocate-99", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(raw_start.result(), 20)
        assert caught.value.cause.type == "NotStartedByEngine" and "no parent" in caught.value.cause.message

        # -- the audit log: accepted commands, role changes, state changes; the chain intact ------
        async def audited():
            kinds = [r.kind for r in store.audit_rows(limit=1000)]
            wanted = {"roles", "grant_role", "revoke_role", "allocate", "request_capital", "resume", "pause", "state"}
            return kinds if wanted <= set(kinds) else None

        kinds = await wait_for(audited, 30, "the audit rows")
        rows = store.audit_rows(kind="grant_role")
        assert {r.signer for r in rows} == {ADMIN.address} and all(r.role == "ADMIN" for r in rows)
        assert kinds.count("allocate") == 1  # refused commands are not the engine's to record
        assert store.verify_audit() is None
        # The store mirrors the book as the engine holds it (the operator granted, then revoked).
        book = await engine.query("roles")
        mirrored = store.roles(settings.engine_id).model_dump(mode="json")
        assert mirrored == book and OPERATOR.address not in mirrored["members"], (mirrored, book)
        await engine.terminate("test over")
    store.close()


async def _state(handle: WorkflowHandle, state: EngineState):
    status = await handle.query("status")
    return status if status["state"] == state.value else None


async def test_an_engine_at_another_id_fails_at_once(temporal_env, stack, web3s, signer, task_queue, tmp_path):
    settings = access_settings(stack, task_queue)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        rogue = await client.start_workflow(
            "EngineWorkflow",
            engine_input(settings).model_dump(mode="json"),
            id=f"rogue-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(rogue.result(), 30)
        cause = caught.value.cause
        assert cause.non_retryable and f"is not this worker's engine ({settings.engine_id!r})" in cause.message
