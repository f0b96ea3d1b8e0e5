"""What `floor ... --json` prints: one JSON object per command, each described here by a model.

docs/cli-json.md is generated from these models' JSON schemas (serialisation mode) by
`scripts/cli_json_schemas.py`; tests/unit/test_cli_outputs.py checks the document is what the
script writes, and the CLI's integration tests validate the commands' real output against the
schemas. The CLI itself never imports this module (it would load web3 and the workflows' models
for nothing): the schemas are the contract, the tests hold the commands to it.

The rules every output keeps:
- one JSON object on stdout, nothing else (errors go to stderr in one line);
- every token amount is a string of digits in the token's base units ("1500250000" is 1,500.25
  USDC), with the token's `decimals` beside it or in the token's config: JavaScript and jq read
  JSON numbers as doubles and lose integers above 2**53 (500 WETH is 5e20 wei). A signed change
  (a yield that lost value, a withdrawal) has a leading "-". Wei figures (fees) are strings too;
- USD values are exact decimal strings ("1500.25000000", 8 decimals, rounded down);
- times are ISO 8601 strings with their zone; ids, counts, bps, block numbers and chain ids are
  JSON numbers (all far below 2**53).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from floor.access.commands import SignedCommand
from floor.access.roles import Grant
from floor.catalogue import FieldChange, Reweighted, TargetWeight
from floor.chain.gas_report import ChainGasReport
from floor.chain.report import IdleReport, MarketReport
from floor.engine import OperationRecord, Transition
from floor.exit_drill import ChainDrill, ExitDrillResult
from floor.messages import AllocateResult
from floor.operations import CapitalResult, EngineStatus, HarvestResult, RebalanceResult
from floor.panic import PanicExitResult
from floor.reconcile import ReconcileResult
from floor.risk.breakers import Breaker, BreakerEvent, RiskCheckResult
from floor.risk.liquidity import PositionLiquidity

UsdText = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", description="USD, an exact decimal string")]


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExecutorFlag(_Output):
    """One executor's on-chain `paused` flag as `floor status` read it (None: not read, `error` says why)."""

    chain_id: int
    executor: str
    paused: bool | None
    error: str | None = None


class StatusOutput(EngineStatus):
    """`floor status --json` when a worker answers: the engine's `status` query, the running
    operation's live step, who paused it and since when, the breakers not CLOSED and why, the
    Web UI link, each executor's on-chain pause, and any chain whose state does not match what
    the engine knew (exit 1)."""

    worker: Literal["answering"]
    ui_url: str
    executors: list[ExecutorFlag]
    chain_problems: list[str]


class PendingSignal(_Output):
    signal: str
    at: str
    input: Any


class StatusNoWorkerOutput(_Output):
    """`floor status --json` when no worker answers (exit 1): what Temporal itself recorded."""

    engine_id: str
    state: str
    execution: str
    worker: Literal["not answering"]
    worker_note: str
    operation: None
    paused_from: None
    pause_reason: None
    last: None
    positions: dict[str, str]
    positions_read_at: str
    pending_signals: list[PendingSignal]
    ui_url: str
    executors: list[ExecutorFlag]
    chain_problems: list[str]


class PositionsOutput(_Output):
    """`floor positions --json`: every strategy market, what the executors hold idle of each
    strategy token, and the total value of both."""

    positions: list[MarketReport]
    idle: list[IdleReport]
    total_value: UsdText | None  # None: a row is not valued


class LiquidityRow(PositionLiquidity):
    chain_id: int


class LiquidityOutput(_Output):
    """`floor risk liquidity --json` (reads no price: works while a feed is stale)."""

    liquidity: list[LiquidityRow]


class ChainEventRow(_Output):
    at: str
    kind: str
    subject: str
    detail: str
    resolved_at: str | None


class BreakerEventRow(_Output):
    at: str
    scope: str
    from_state: str
    to_state: str
    trigger: str
    actor: str
    reason: str


class AcceptanceRow(_Output):
    """A discrepancy an operator accepted: who, why, when."""

    accepted_at: str
    id: int
    market: str
    expected: Annotated[str, Field(pattern=r"^-?[0-9]+$")]  # base units
    actual: Annotated[str, Field(pattern=r"^-?[0-9]+$")]
    relative_bps: int
    accepted_by: str
    accepted_reason: str


Digits = Annotated[str, Field(pattern=r"^[0-9]+$")]  # base units, exact
SignedDigits = Annotated[str, Field(pattern=r"^-?[0-9]+$")]


class DiscrepancyRow(_Output):
    """An open discrepancy: one per market, with the figures of the run that found it last."""

    id: int
    run_id: str  # the run that found it first
    chain_id: int
    market: str
    asset: str
    decimals: int
    expected: Digits
    actual: Digits
    difference: SignedDigits  # actual - expected
    relative_bps: int
    block_number: int
    growth_index: Digits | None
    found_at: str
    detail: str


class OpenDiscrepanciesOutput(_Output):
    """`floor reconcile --open --json`."""

    open: list[DiscrepancyRow]


class AcceptedDiscrepancyOutput(DiscrepancyRow):
    """`floor reconcile --accept ID --reason TEXT --json`: the discrepancy, who accepted it, why,
    when, and what the engine answered about its breaker."""

    status: Literal["accepted"]
    accepted_by: str
    accepted_reason: str
    accepted_at: str
    engine: str


class AcceptedChainOutput(_Output):
    """`floor reconcile --accept-chain ID --reason TEXT --json`: the final block remembered, what
    did not match before, what each of the chain's transaction queues and the engine answered."""

    chain_id: int
    block_number: int
    block_hash: str
    was: str
    note: str
    queues: list[str]
    engine: str


class HistoryOutput(_Output):
    """`floor history --json`: transitions and finished operations (the last N of each, oldest
    first); from the store, what the chains took back, the circuit breakers' changes and the
    discrepancies operators accepted."""

    engine_id: str
    transitions: list[Transition]
    operations: list[OperationRecord]
    chain_events: list[ChainEventRow]
    breaker_events: list[BreakerEventRow]
    acceptances: list[AcceptanceRow]


class AuditListRow(_Output):
    """One row of the audit log: its hash covers its fields (`at` as seconds since 1970) and
    `prev`, the hash of the row before."""

    seq: int
    at: str
    workflow_id: str
    signer: str  # "" for an unsigned pause or an unreadable command
    role: str
    kind: str
    digest: str
    outcome: Literal["accepted", "refused"]
    reason: str
    prev: str
    hash: str


class AuditListOutput(_Output):
    """`floor audit list --json`: the last N rows of the audit log that match, oldest first."""

    rows: list[AuditListRow]


class AuditVerifyOutput(_Output):
    """`floor audit verify --json` (exit 1 when the chain is broken): whether every row from the
    first to the head is as appended; if not, the first bad row's seq (for rows cut from the end,
    the first one missing) and why."""

    intact: bool
    head_seq: int | None  # None: the head row itself is gone
    head_hash: str | None
    bad_row: int | None
    why: str | None


class ReconcileOutput(ReconcileResult):
    """`floor reconcile --json` (exit 1 on a discrepancy or a chain that is not the one the
    engine knew)."""


class ScoreRow(_Output):
    protocol: str
    chain_id: int
    audit: int
    tvl: int
    age: int
    incidents: int
    overall: int
    max_weight_bps: int
    tvl_neutral: bool
    tvl_source: str
    as_of: str
    data_version: int
    notes: list[str]


class RiskScoresOutput(_Output):
    """`floor risk scores --json`: each protocol's score on one chain, as of a date."""

    chain_id: int
    as_of: str
    data_version: int
    tvl_source: str
    scores: list[ScoreRow]


class BreakersOutput(_Output):
    """`floor risk breakers --json`: the circuit breakers not CLOSED."""

    breakers: list[Breaker]


class RiskCheckOutput(RiskCheckResult):
    """`floor risk check --json`: what the check changed, and every breaker not CLOSED after it."""


class BreakerChangeOutput(_Output):
    """`floor risk trip|half-open SCOPE --json`."""

    event: BreakerEvent


class GasOutput(_Output):
    """`floor gas --json`: each chain's fee figures (wei as strings)."""

    chains: list[ChainGasReport]


class ExecutorPause(_Output):
    """`floor pause --onchain`: the guardian's pause() of one executor, waited for until mined."""

    chain_id: int
    executor: str
    guardian: str
    outcome: Literal["paused", "already_paused", "failed"]
    tx_hash: str | None = None  # "paused": the transaction
    block: int | None = None
    error: str | None = None  # "failed": why (the other chains' pauses stand)


class PauseOutput(_Output):
    """`floor pause|resume --json`: the engine's answer (`applied`), or, when no worker answers a
    pause, that it was signalled and takes effect when a worker runs (`applied` false); with
    `--onchain`, each executor's pause first."""

    engine_id: str
    action: Literal["pause", "resume"]
    note: str
    applied: bool
    executors: list[ExecutorPause] | None = None


class ConfigureOutput(_Output):
    """`floor configure --json`: what sending the config to the engine changed (`changed` false:
    nothing; `started`: the engine was not running and was started with the config, its targets
    all `added`), and the same in words (`lines`)."""

    engine_id: str
    changed: bool
    started: bool
    added: list[TargetWeight]
    removed: list[TargetWeight]
    reweighted: list[Reweighted]
    fields: list[FieldChange]
    lines: list[str]


class SchedulesOutput(_Output):
    """`floor schedules apply --json`: the engine configured first (`config`, as `floor configure`
    prints it), then its schedules."""

    engine_id: str
    config: ConfigureOutput
    schedules: list[str]


class RoleMember(Grant):
    """One account of the engine's role book: its role, name, who granted it, when (seconds since 1970) and why."""

    account: str


class RolesOutput(_Output):
    """`floor roles list|grant|revoke --json`: the engine's role book (after the grant or the
    revocation, whose answer is `answer`)."""

    engine_id: str
    answer: str | None = None
    members: list[RoleMember]


class _Followed(_Output):
    workflow_id: str
    ui_url: str


class AllocateOutput(AllocateResult):
    """`floor allocate --json`: the result, its `workflow_id` and `ui_url`."""

    workflow_id: str
    ui_url: str


class RebalanceOutput(RebalanceResult):
    """`floor rebalance --json`."""

    workflow_id: str
    ui_url: str


class HarvestOutput(HarvestResult):
    """`floor harvest --json`."""

    workflow_id: str
    ui_url: str


class CapitalOutput(CapitalResult):
    """`floor request-capital --json`."""

    workflow_id: str
    ui_url: str


class PanicExitOutput(PanicExitResult):
    """`floor panic-exit --reason TEXT --json`: per chain (`panic`), what is out (`out`: the asset's
    rise in the executor's idle balance, per symbol), each instant exit as quoted with its min-out
    and slippage, what is queued (the requests' ids and expected wait) and what stays, with why;
    the engine stays PAUSED."""

    workflow_id: str
    ui_url: str


class OperationFailedOutput(_Followed):
    """Any operation command whose workflow failed (exit 1): the root cause in `summary`."""

    status: Literal["failed"]
    summary: str


class OperationStartedOutput(_Followed):
    """Any operation command with `--no-wait`."""

    kind: str
    status: Literal["started"]


class SignOutput(SignedCommand):
    """`floor sign KIND --field NAME=VALUE ...` (always JSON): the command signed by your key for
    this engine, as the engine's update takes it (floor/access/commands.py): its kind, the domain
    it is signed for, the message (the struct's fields with the signer's random `nonce` and its
    `deadline`, seconds since 1970, as strings of digits), the signer's address and the 65-byte
    signature (r || s || v, 0x-hex)."""

    signer: str
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


IsoTime = Annotated[str, Field(description="ISO 8601 with its zone")]
AlertId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{16}$", description="Alertmanager's fingerprint of the alert's labels")
]


class AlertSilence(_Output):
    """An Alertmanager silence. `floor alerts ack` makes one whose matchers are exactly an
    alert's labels: `alert_id` names that alert (None for any other silence)."""

    id: str
    state: Literal["active", "pending", "expired"]
    created_by: str
    comment: str
    starts_at: IsoTime | None
    ends_at: IsoTime | None
    matchers: list[str]  # name="value", name=~"regex", name!="value"
    alert_id: AlertId | None


class AlertRow(_Output):
    id: AlertId
    name: str
    severity: str | None  # critical, warning or info (the rule's label)
    state: Literal["firing", "acknowledged", "inhibited", "unprocessed"]
    summary: str
    description: str
    runbook_url: str | None
    labels: dict[str, str]
    starts_at: IsoTime | None
    receivers: list[str]
    acks: list[AlertSilence]  # the silences muting it
    inhibited_by: list[AlertId]  # the alerts inhibiting it (an engine-paused alert its operations' alerts)


class AlertsListOutput(_Output):
    """`floor alerts list --json`: the alerts Alertmanager holds, most severe first, then
    oldest, each with the acknowledgements (silences) muting it; then the active silences that
    mute none of them (an acknowledged alert that no longer fires: unack it so its resolved
    notification goes out)."""

    alertmanager_url: str
    alerts: list[AlertRow]
    silences: list[AlertSilence]


class AlertAckOutput(_Output):
    """`floor alerts ack ID --comment TEXT --json`: the silence made, who made it, why and until when."""

    silence_id: str
    alert_id: AlertId
    alert: str  # its alertname
    created_by: str
    comment: str
    ends_at: IsoTime


class AlertUnackOutput(_Output):
    """`floor alerts unack ID --json`: the silences expired (state `expired`);
    `alert_id` when an alert's ID was given."""

    alert_id: AlertId | None
    expired: list[AlertSilence]


class ExitDrillOutput(ExitDrillResult):
    """`floor exit-drill --json` (exit 1 when an exit would fail or a chain could not be drilled):
    per chain the fork's block, the slippage limit and each position's exit: `status` ok, partial,
    failed or manual, `reason`, `realised` against `quoted` and `fair`, `slippage_bps`, `mode`
    instant or queued with `wait_s`."""


class ExitDrillLastOutput(_Output):
    """`floor exit-drill --last --json`: the latest drill of each chain (of `--chain`) the store holds."""

    drills: list[ChainDrill]


# The command line -> the model of what it prints, in the order docs/cli-json.md lists them.
OUTPUTS: dict[str, type[BaseModel]] = {
    "floor status --json": StatusOutput,
    "floor status --json (no worker answers)": StatusNoWorkerOutput,
    "floor positions --json": PositionsOutput,
    "floor history --json": HistoryOutput,
    "floor audit list --json": AuditListOutput,
    "floor audit verify --json": AuditVerifyOutput,
    "floor reconcile --json": ReconcileOutput,
    "floor reconcile --open --json": OpenDiscrepanciesOutput,
    "floor reconcile --accept ID --reason TEXT --json": AcceptedDiscrepancyOutput,
    "floor reconcile --accept-chain ID --reason TEXT --json": AcceptedChainOutput,
    "floor exit-drill --json": ExitDrillOutput,
    "floor exit-drill --last --json": ExitDrillLastOutput,
    "floor risk scores --json": RiskScoresOutput,
    "floor risk breakers --json": BreakersOutput,
    "floor risk check --json": RiskCheckOutput,
    "floor risk trip|half-open SCOPE --json": BreakerChangeOutput,
    "floor risk liquidity --json": LiquidityOutput,
    "floor gas --json": GasOutput,
    "floor allocate --json": AllocateOutput,
    "floor rebalance --json": RebalanceOutput,
    "floor harvest --json": HarvestOutput,
    "floor request-capital --json": CapitalOutput,
    "floor panic-exit --reason TEXT --json": PanicExitOutput,
    "floor allocate|rebalance|harvest|request-capital|panic-exit --json (failed)": OperationFailedOutput,
    "floor allocate|rebalance|harvest|request-capital|panic-exit --json --no-wait": OperationStartedOutput,
    "floor pause|resume --json": PauseOutput,
    "floor configure --json": ConfigureOutput,
    "floor schedules apply --json": SchedulesOutput,
    "floor roles list|grant|revoke --json": RolesOutput,
    "floor alerts list --json": AlertsListOutput,
    "floor alerts ack ID --comment TEXT --json": AlertAckOutput,
    "floor alerts unack ID --json": AlertUnackOutput,
    "floor sign KIND --field NAME=VALUE ...": SignOutput,
}


def schema(model: type[BaseModel]) -> dict:
    """The JSON schema of what the command prints (pydantic's serialisation mode: amounts are
    strings there, as the output has them)."""
    return model.model_json_schema(mode="serialization")
