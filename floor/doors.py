"""Every door of every workflow, as data: what each start, update, signal and query takes, one
example of it, and what it answers. Pure: workflows import it.

The workflows parse each door's raw JSON with the model named here (workflows/doors.py, and
the handlers in workflows/*.py); `scripts/door_schemas.py` writes docs/doors.md from this list
and the models' JSON schemas; tests/integration/test_doors.py sends every door garbage made
from the same schemas and checks each refusal is one line, and tests/unit/test_doors.py
checks this list names every handler the registered workflows have, and every example fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter

from floor.access.commands import SignedCommand
from floor.exit_drill import ExitDrillStart
from floor.messages import AllocateInput
from floor.models import ChainId
from floor.operations import (
    CapitalInput,
    ConfigureCommand,
    EngineCheck,
    EngineInput,
    HarvestInput,
    OperationStep,
    RebalanceInput,
    Signal,
)
from floor.panic import PanicExitInput
from floor.reconcile import ReconcileInput
from floor.risk.breakers import ReconcileTrip
from floor.txqueue import QueueHold, QueueInput, QueuePolicy, TxIntent, TxOutcome

Kind = Literal["start", "update", "signal", "query"]
Audience = Literal["services", "operators", "internal"]


class ReconcileStart(ReconcileInput):
    """ReconcileWorkflow's start as its door reads it: ReconcileInput (floor/reconcile.py) with
    chain ids that are JSON numbers and a bounded trip threshold."""

    chains: list[ChainId] = Field(min_length=1, max_length=100)
    trip_above_bps: StrictInt = Field(default=100, ge=0, le=10_000)


class ChainAcceptance(BaseModel):
    """TxQueueWorkflow's `accept_chain`: who accepts the chain as it is now, and why."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1)


@dataclass(frozen=True)
class Door:
    workflow: str  # the workflow type
    kind: Kind
    name: str  # the handler's name ("" for a start)
    summary: str  # what it does and answers, one or two sentences
    example: Any  # one input it accepts (JSON-able)
    model: Any = None  # what the input is read as: a pydantic model, or a type for TypeAdapter
    takes: str = ""  # the input in words, where the model alone does not say it
    null: bool = False  # null (or no input at all) is accepted
    audience: Audience = "services"

    @property
    def adapter(self) -> TypeAdapter[Any] | None:
        return None if self.model is None else TypeAdapter(self.model)


# ---------------------------------------------------------------------------- examples

TREASURY = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
EXECUTOR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TARGET = {"key": {"chain_id": 1, "protocol": "aave-v3", "market": "USDC"}, "asset": "USDC", "weight_bps": 10_000}
CATALOGUE = {
    "chains": [{"chain_id": 1, "tokens": {"USDC": 6}, "destinations": [TREASURY]}],
    "targets": [TARGET],
    "weights_of": "total",
}
POLICY = {"rebalance_cooldown_s": 3600, "harvest_cooldown_s": 86_400}
CAPITAL = {
    "by": "payments-service",
    "reason": "invoice 4711",
    "chain_id": 1,
    "asset": "USDC",
    "amount": "250000000000",
    "destination": TREASURY,
    "deadline": "2030-01-01T17:00:00Z",
}
# transfer(TREASURY, 1000 USDC): a call the executor allows (lists decide where value goes).
TRANSFER = "0xa9059cbb" + TREASURY[2:].lower().rjust(64, "0") + hex(1_000_000_000)[2:].rjust(64, "0")
INTENT = {
    "id": "payments-service/invoice-4711/transfer-1",
    "chain_id": 1,
    "groups": [[{"target": USDC, "value": "0", "data": TRANSFER}]],
    "priority": 2,
    "deadline": "2030-01-01T17:00:00Z",
    "reply_to": None,
}
QUEUE_POLICY = QueuePolicy(allowed=[f"{USDC}:0xa9059cbb", f"{USDC}:0x095ea7b3"]).model_dump(mode="json")
ADMIN = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def signed_example(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A signed command's shape (floor.access.commands.SignedCommand): `floor sign` or any
    EIP-712 wallet makes one; the signature here is a stand-in (a real one is 65 bytes too)."""
    return {
        "kind": kind,
        "domain": {"chain_id": 1, "executor": EXECUTOR, "engine": "engine-floor"},
        "message": {"nonce": "7364529011", "deadline": "1893456000", **fields},
        "signer": ADMIN,
        "signature": "0x" + "5a" * 64 + "1b",
    }


SIGNED_TAKES = (
    "a signed command of this kind (floor.access.commands: EIP-712, signed by a member's own key with"
    " the role it needs; `floor sign` makes one): the engine checks its domain, deadline, signature,"
    " role, nonce and rate before anything enters history"
)

ENGINE, QUEUE = "EngineWorkflow", "TxQueueWorkflow"
OPERATIONS = ("AllocateWorkflow", "RebalanceWorkflow", "HarvestWorkflow", "CapitalRequestWorkflow", "PanicExitWorkflow")
PAUSE_TAKES = (
    'anything: a signed pause command, or unsigned {"by": "...", "reason": "..."}, or the reason as a bare'
    " string; never refused for its payload (whatever else is sent is recorded as its JSON text), only"
    " rate-limited"
)
SIGNAL_PAUSE_TAKES = (
    'anything: {"by": "...", "reason": "..."}, or the reason as a bare string; never refused (whatever else is'
    " sent is recorded as its JSON text)"
)
RESUME_TAKES = 'null, {"by": "...", "reason": "..."}, or the reason as a bare string'

DOORS: list[Door] = [
    # -- EngineWorkflow ----------------------------------------------------------------------
    Door(
        ENGINE,
        "start",
        "",
        "One per treasury, at the config's `engine.workflow_id`; the CLI and workers start it. Bad input"
        " fails it at once (BadInput).",
        {"catalogue": CATALOGUE, "policy": POLICY},
        EngineInput,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "allocate",
        "Place amounts the executors already hold into the strategy's markets. Answers"
        ' {"kind", "workflow_id"} of the operation it started. OPERATOR.',
        signed_example(
            "allocate",
            {"amounts": [{"chainId": 1, "asset": "USDC", "amount": "1000000000000"}], "reason": "new capital"},
        ),
        SignedCommand,
        takes=SIGNED_TAKES,
    ),
    Door(
        ENGINE,
        "update",
        "rebalance",
        "Bring drift back to the strategy's weights. Answers the operation's workflow id. OPERATOR.",
        signed_example("rebalance", {"reason": "weekly review"}),
        SignedCommand,
        takes=SIGNED_TAKES,
    ),
    Door(
        ENGINE,
        "update",
        "harvest",
        "Measure yield since the last harvest, claim and sell rewards. Answers the operation's workflow id. OPERATOR.",
        signed_example("harvest", {"reason": "weekly review"}),
        SignedCommand,
        takes=SIGNED_TAKES,
    ),
    Door(
        ENGINE,
        "update",
        "request_capital",
        "Deliver `amount` (base units) of `asset` on `chain_id` to a listed destination, by an optional"
        " `deliverBy` (seconds since 1970, in the future; 0: none). Answers the operation's workflow id. ADMIN.",
        signed_example(
            "request_capital",
            {
                "chainId": 1,
                "asset": "USDC",
                "amount": "250000000000",
                "destination": TREASURY,
                "deliverBy": "1893456000",
                "partial": False,
                "exitPollSeconds": "3600",
                "reason": "invoice 4711",
            },
        ),
        SignedCommand,
        takes=SIGNED_TAKES,
    ),
    Door(
        ENGINE,
        "update",
        "panic_exit",
        "Unwind every position of the strategy on every chain to its base asset (withdrawals, LP exits,"
        " queued exits' requests), within the slippage limit, through the queues' hold: the one operation"
        " a pause lets through. Pauses the engine first if it is not paused; the engine stays PAUSED."
        " Answers the operation's workflow id. ADMIN.",
        signed_example("panic_exit", {"reason": "exploit on a lending market"}),
        SignedCommand,
        takes=SIGNED_TAKES,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "pause",
        "Pause: hold the transaction queues, pause the running operation at its next step and the"
        ' schedules. Answers "paused by ...", or "already paused since ..." when it was. Open to anyone.',
        {"by": "oncall", "reason": "oracle incident"},
        Signal,
        takes=PAUSE_TAKES,
        null=True,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "resume",
        'Resume a paused engine. Answers "resumed by ..."; refused when the engine is not paused, or its'
        " own circuit breaker is open. OPERATOR.",
        signed_example("resume", {"reason": "feeds back"}),
        SignedCommand,
        takes=SIGNED_TAKES,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "check_risk",
        "Run a risk check now: answers the breakers it opened or closed and every breaker not CLOSED."
        " OPERATOR (the schedules' checks: the worker's scheduler service).",
        signed_example("check_risk", {"reason": "hourly"}),
        SignedCommand,
        takes=SIGNED_TAKES,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "half_open_breaker",
        "Ask for a probe of an open circuit breaker (the next risk check decides). Answers the event. ADMIN.",
        signed_example("half_open_breaker", {"scope": "protocol:aave-v3", "reason": "the market is back"}),
        SignedCommand,
        takes=SIGNED_TAKES,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "trip_breaker",
        "Open a circuit breaker by hand: its scope is routed around from now on. Answers the event. ADMIN.",
        signed_example("trip_breaker", {"scope": "protocol:aave-v3", "reason": "governance proposal under review"}),
        SignedCommand,
        takes=SIGNED_TAKES,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "accept_reconciliation",
        "After `floor reconcile --accept ID` (or `--accept-chain ID`) recorded an acceptance in the store:"
        " close the reconciliation's breaker (`reconcile:<market>`, `reconcile:chain:<id>`); refused while"
        " the store still holds something open there. Answers the event. OPERATOR.",
        signed_example(
            "accept_reconciliation", {"scope": "reconcile:1:aave-v3:USDC", "reason": "INC-42: a donation to the vault"}
        ),
        SignedCommand,
        takes=SIGNED_TAKES,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "configure",
        "The config's catalogue and policy, both required (a part left out is refused, never defaulted),"
        " with an ADMIN's signed configure command whose configHash is the config's"
        ' (floor.access.commands.config_hash); "nothing to change" is refused and leaves no trace. Sent by'
        " `floor schedules apply`.",
        {
            "command": signed_example("configure", {"configHash": "0x" + "ab" * 32, "reason": "new strategy"}),
            "config": {"catalogue": CATALOGUE, "policy": POLICY},
        },
        ConfigureCommand,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "load_access",
        "Load the role book from the worker's settings into a run from before signed commands (it refuses"
        " every signed command until then); the worker sends it at its start. Open: the caller chooses"
        " nothing. Answers whether it loaded.",
        None,
        None,
        takes="nothing",
        null=True,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "grant_role",
        "Give an address a role (VIEWER, OPERATOR, ADMIN): a new member, a promotion or a demotion. Answers"
        " what changed. ADMIN.",
        signed_example(
            "grant_role",
            {"account": SIGNER, "role": "OPERATOR", "name": "treasury-ops", "reason": "joins the rota"},
        ),
        SignedCommand,
        takes=SIGNED_TAKES,
        audience="operators",
    ),
    Door(
        ENGINE,
        "update",
        "revoke_role",
        "Take an address's role away (never the last ADMIN's). Answers what changed. ADMIN.",
        signed_example("revoke_role", {"account": SIGNER, "reason": "left the rota"}),
        SignedCommand,
        takes=SIGNED_TAKES,
        audience="operators",
    ),
    Door(
        ENGINE,
        "signal",
        "pause_engine",
        "The `pause` update as a signal, unsigned and never refused (not rate-limited: a signal cannot be).",
        "oracle incident",
        Signal,
        takes=SIGNAL_PAUSE_TAKES,
        null=True,
        audience="operators",
    ),
    Door(
        ENGINE,
        "signal",
        "resume_engine",
        "No longer resumes: a resume is the signed `resume` update (a signal cannot be refused, so anyone"
        " reaching Temporal could resume a paused engine). Logged and ignored.",
        {"by": "oncall", "reason": "feeds back"},
        Signal,
        takes=RESUME_TAKES,
        null=True,
        audience="operators",
    ),
    Door(
        ENGINE,
        "signal",
        "internal_operation_step",
        "Internal: the running operation reports its step. Not for people or services.",
        {"workflow_id": "engine-floor/rebalance-7", "step": "reading positions"},
        OperationStep,
        audience="internal",
    ),
    Door(
        ENGINE,
        "signal",
        "internal_reconcile_breakers",
        "Internal: a reconciliation run opens its breakers (and pauses the engine). Not for people or services.",
        {
            "run_id": "engine-floor/reconcile-now-1",
            "findings": [
                {
                    "scope": "reconcile:1:aave-v3:USDC",
                    "trigger": "reconcile",
                    "reason": "discrepancy #7 on 1:aave-v3:USDC: chain holds 90, expected 100 base units of USDC",
                }
            ],
            "pause_reason": "reconciliation engine-floor/reconcile-now-1: discrepancy #7 on 1:aave-v3:USDC",
        },
        ReconcileTrip,
        audience="internal",
    ),
    Door(
        ENGINE,
        "query",
        "status",
        "State, running operation and step, pause reason, last operation, positions.",
        None,
        takes="nothing",
        null=True,
    ),
    Door(ENGINE, "query", "history", "State transitions, oldest first (bounded).", None, takes="nothing", null=True),
    Door(ENGINE, "query", "breakers", "Circuit breakers not CLOSED, by scope.", None, takes="nothing", null=True),
    Door(ENGINE, "query", "results", "Finished operations, oldest first (bounded).", None, takes="nothing", null=True),
    Door(ENGINE, "query", "config", "The catalogue and policy the engine runs with.", None, takes="nothing", null=True),
    Door(
        ENGINE,
        "query",
        "roles",
        "Who may command the engine: the role book (address, role, name, who granted it); null before it loaded.",
        None,
        takes="nothing",
        null=True,
    ),
    # -- EngineCheckWorkflow -------------------------------------------------------------------
    Door(
        "EngineCheckWorkflow",
        "start",
        "",
        "What the engine's schedules start: ask the engine for a rebalance, a harvest or a risk check;"
        " a refusal is its answer.",
        {"engine_id": "engine-floor", "kind": "rebalance"},
        EngineCheck,
        audience="operators",
    ),
    # -- ReconcileWorkflow ---------------------------------------------------------------------
    Door(
        "ReconcileWorkflow",
        "start",
        "",
        "Every chain's positions against the engine's cached view (`floor reconcile`, its schedule).",
        {"chains": [1, 42161], "engine_id": "engine-floor", "trip_above_bps": 100},
        ReconcileStart,
        audience="operators",
    ),
    # -- ExitDrillWorkflow ---------------------------------------------------------------------
    Door(
        "ExitDrillWorkflow",
        "start",
        "",
        "The full exit of every position simulated on an anvil fork of each chain (`floor exit-drill`, its"
        " schedule): per position ok or failed and why, its slippage and its time until out; nothing is sent"
        " to the chains themselves. `timeout_s`: one chain's fork work.",
        {"chains": [1, 42161], "timeout_s": 900},
        ExitDrillStart,
        audience="operators",
    ),
    # -- TxQueueWorkflow -----------------------------------------------------------------------
    Door(
        QUEUE,
        "start",
        "",
        "One per (chain, signer), at `txqueue-<chain>-<signer>`; started by update-with-start with the"
        " config's policy. Bad input fails it at once (BadInput).",
        {"chain_id": 1, "signer": SIGNER, "executor": EXECUTOR, **QUEUE_POLICY},
        QueueInput,
    ),
    Door(
        QUEUE,
        "update",
        "submit",
        "One intent: calls the executor allows, sent once whatever is retried (the id). Answers"
        ' {"intent_id", "accepted", "outcome"}; a known id answers its first outcome.',
        INTENT,
        TxIntent,
    ),
    Door(
        QUEUE,
        "update",
        "submit_many",
        "Up to 500 intents in one update, each answered as `submit` answers it.",
        [INTENT],
        list[TxIntent],
        takes="a JSON array of 1 to 500 intents",
    ),
    Door(
        QUEUE,
        "update",
        "configure",
        "The queue's whole policy (every field: a part left out is refused, never defaulted); the same"
        ' policy is refused as "nothing to change". Sent by every worker at start.',
        QUEUE_POLICY,
        QueuePolicy,
        audience="operators",
    ),
    Door(
        QUEUE,
        "update",
        "hold",
        'Hold (nothing new is broadcast) or release the queue. Answers the hold\'s reason, or "sending".',
        {"held": True, "reason": "paused by oncall: oracle incident"},
        QueueHold,
        audience="operators",
    ),
    Door(
        QUEUE,
        "update",
        "accept_chain",
        "After a chain reset or a rewrite past finality, accept the chain as it is: what was in flight"
        " fails as ChainReset, the nonce is read again (docs/runbooks/chain-reset.md).",
        {"reason": "oncall: the devnet was reset"},
        ChainAcceptance,
        audience="operators",
    ),
    Door(
        QUEUE,
        "query",
        "outcome",
        "An intent's outcome, or null while it is not settled.",
        "payments-service/invoice-4711/transfer-1",
        str,
        takes="an intent id (a JSON string)",
    ),
    Door(
        QUEUE,
        "query",
        "outcomes",
        "The settled outcomes among the ids given.",
        ["payments-service/invoice-4711/transfer-1"],
        list[str],
        takes="a JSON array of intent ids",
    ),
    Door(
        QUEUE,
        "query",
        "status",
        "Next nonce, pending and in-flight transactions, hold, private route.",
        None,
        takes="nothing",
        null=True,
        audience="operators",
    ),
    # -- the operation workflows (children of the engine) -----------------------------------
    Door(
        "AllocateWorkflow",
        "start",
        "",
        "Internal: started by the engine's `allocate` (ask the engine, never start it yourself).",
        {
            "legs": [
                {
                    "chain_id": 1,
                    "asset": "USDC",
                    "amount": "1000000000",
                    "targets": [{"key": TARGET["key"], "weight_bps": 10_000}],
                }
            ]
        },
        AllocateInput,
        audience="internal",
    ),
    Door(
        "RebalanceWorkflow",
        "start",
        "",
        "Internal: started by the engine's `rebalance`.",
        {"targets": [TARGET]},
        RebalanceInput,
        audience="internal",
    ),
    Door(
        "HarvestWorkflow",
        "start",
        "",
        "Internal: started by the engine's `harvest`.",
        {"targets": [TARGET]},
        HarvestInput,
        audience="internal",
    ),
    Door(
        "CapitalRequestWorkflow",
        "start",
        "",
        "Internal: started by the engine's `request_capital`.",
        {"request": CAPITAL, "targets": [TARGET]},
        CapitalInput,
        audience="internal",
    ),
    Door(
        "PanicExitWorkflow",
        "start",
        "",
        "Internal: started by the engine's `panic_exit`.",
        {"targets": [TARGET], "by": "oncall", "reason": "exploit"},
        PanicExitInput,
        audience="internal",
    ),
    Door(
        "PanicExitWorkflow",
        "signal",
        "check_exits",
        "A panic exit's claim phase (`<engine>/panic-claim-<n>-<chain>-<protocol>`): read its queued exits' "
        "status now rather than at the next hourly poll, and claim them if every one is finalised.",
        None,
        takes="nothing",
        null=True,
        audience="operators",
    ),
    Door(
        "CapitalRequestWorkflow",
        "query",
        "exit_requests",
        "The queued exits this request made.",
        None,
        takes="nothing",
        null=True,
    ),
]
for _operation in OPERATIONS:
    DOORS += [
        Door(
            _operation,
            "signal",
            "pause_engine",
            "Recorded, and nothing stops: a panic exit runs while the engine is paused and keeps the pause."
            if _operation == "PanicExitWorkflow"
            else "Pause at the next step (the engine sends it to its running operation when it pauses).",
            "oracle incident",
            Signal,
            takes=PAUSE_TAKES,
            null=True,
            audience="operators",
        ),
        Door(
            _operation,
            "signal",
            "resume_engine",
            "Recorded, and nothing changes: a panic exit never waits on a pause."
            if _operation == "PanicExitWorkflow"
            else "Go on from the paused step (the engine sends it when it resumes); a bad payload is logged.",
            {"by": "oncall", "reason": "feeds back"},
            Signal,
            takes=RESUME_TAKES,
            null=True,
            audience="operators",
        ),
        Door(
            _operation,
            "signal",
            "tx_outcome",
            "Internal: the transaction queue's answer to one of the operation's intents.",
            {"intent_id": INTENT["id"], "ok": False, "error": "DeadlinePassed", "message": "not sent in time"},
            TxOutcome,
            audience="internal",
        ),
        Door(
            _operation,
            "query",
            "status",
            "The operation's current step (and whether it is paused).",
            None,
            takes="nothing",
            null=True,
        ),
    ]


def doors_of(workflow: str) -> list[Door]:
    return [d for d in DOORS if d.workflow == workflow]
