"""A finished operation's summary for the metrics (`floor.observations`), and the rows the
engine's reads write from it and from the reports (`activities.reconcile`, `activities.risk`,
`activities.errors`)."""

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from activities.errors import failure_labels
from activities.reconcile import market_marks, operation_events
from activities.risk import feed_ages
from floor.calls import ReadResult
from floor.chain.multicall import ReadBatch
from floor.chain.prices import price_segment
from floor.chain.report import IdleReport, MarketReport
from floor.messages import AllocateResult, ReadHoldingsInput
from floor.metrics import ALL_METRICS, labels_of
from floor.models import AdapterKey
from floor.observations import FailedPart, move_slippage, observe_operation
from floor.operations import (
    CapitalResult,
    ChainPart,
    HarvestResult,
    MoveOutcome,
    OperationResult,
    RebalanceResult,
    RewardProceeds,
    YieldLine,
)
from floor.reconcile import ReconcileChainInput
from floor.risk.liquidity import position_liquidity
from floor.txqueue import SignInput

HISTORIES = Path(__file__).parents[1] / "histories"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=42)
AAVE = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
VAULT = AdapterKey(chain_id=1, protocol="metamorpho", market="steakUSDC")
ARB = AdapterKey(chain_id=42161, protocol="aave-v3", market="USDC")
RESULTS = {
    "AllocateWorkflow": AllocateResult,
    "RebalanceWorkflow": RebalanceResult,
    "HarvestWorkflow": HarvestResult,
    "CapitalRequestWorkflow": CapitalResult,
}


def recorded_results() -> list[tuple[str, str, OperationResult]]:
    """The results of the operations the recorded engine history followed: (kind, id, result)."""
    history = json.loads((HISTORIES / "engine.json").read_text())
    out = []
    for event in history["events"]:
        if event["eventType"] != "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED":
            continue
        done = event["childWorkflowExecutionCompletedEventAttributes"]
        raw = json.loads(base64.b64decode(done["result"]["payloads"][0]["data"]))
        workflow_id = done["workflowExecution"]["workflowId"]
        kind = workflow_id.rpartition("/")[2].rsplit("-", 1)[0]
        out.append((kind, workflow_id, RESULTS[done["workflowType"]["name"]].model_validate(raw)))
    return out


def rebalance(moves: list[MoveOutcome], chains: list[ChainPart], status: str = "done") -> RebalanceResult:
    return RebalanceResult(
        status=status, summary="", chains=chains, threshold_bps=500, drift_before_bps=900, moves=moves
    )


def by_name(events) -> dict[str, list]:
    out: dict[str, list] = {}
    for e in events:
        out.setdefault(e.name, []).append(e)
    return out


# ---------------------------------------------------------------------------- slippage


def test_slippage_is_the_shortfall_against_the_plan_in_bps_of_it():
    assert move_slippage(1_000_000, 999_000) == 10.0  # a deposit that added 0.1 % less
    assert move_slippage(-1_000_000, -1_002_000) == 20.0  # a withdrawal that took 0.2 % more out
    assert move_slippage(1_000_000, 1_000_050) == 0.0  # interest accrued between the reads: no cost
    assert move_slippage(-1_000_000, -999_990) == 0.0
    assert move_slippage(1_000_000, 0) is None  # did not land, or a position that follows later
    assert move_slippage(1_000_000, -5) is None
    assert move_slippage(0, 0) is None


def test_a_rebalances_moves_on_chains_that_were_done_and_not_withdraw_all():
    moves = [
        MoveOutcome(key=VAULT, action="withdraw", planned=-2_000_000, realised=-2_010_000),
        MoveOutcome(key=AAVE, action="deposit", planned=2_000_000, realised=1_999_000),
        MoveOutcome(key=VAULT, action="withdraw_all", planned=-5, realised=-5),
        MoveOutcome(key=ARB, action="deposit", planned=1_000_000, realised=3),  # its chain failed
    ]
    parts = [
        ChainPart(chain_id=1, status="done", transactions=["0xaa"]),
        ChainPart(chain_id=42161, status="failed", error="engine/rebalance-1/chain-42161/rebalance-1: Cancelled: gone"),
    ]
    seen = observe_operation("rebalance", "engine/rebalance-1", T0, T1, rebalance(moves, parts, "partial"))
    assert [(s.key, s.bps) for s in seen.slippage] == [(VAULT, 50.0), (AAVE, 5.0)]
    assert seen.failed == [FailedPart(chain_id=42161, error_type="Cancelled")]
    assert (seen.status, seen.error_type, seen.duration_s) == ("partial", "Cancelled", 42.0)


# ---------------------------------------------------------------------------- failures


def test_a_failed_operation_names_each_failed_chain_from_its_failure():
    failure = (
        "TransactionFailed: engine/rebalance-7/chain-1/rebalance-1: ExecutionReverted: SupplyCapExceeded; "
        "engine/rebalance-7/chain-42161/rebalance-2: DeadlinePassed: not mined by its deadline"
    )
    seen = observe_operation("rebalance", "engine/rebalance-7", T0, T1, None, failure=failure)
    assert (seen.status, seen.error_type) == ("failed", "TransactionFailed")
    assert seen.failed == [
        FailedPart(chain_id=1, error_type="ExecutionReverted"),
        FailedPart(chain_id=42161, error_type="DeadlinePassed"),
    ]


def test_a_failure_that_names_no_chain_is_the_operations_own():
    seen = observe_operation("allocate", "engine/allocate-2", T0, T1, None, failure="PriceStale: feed 0xab of USDC")
    assert seen.failed == [FailedPart(chain_id=None, error_type="PriceStale")]
    unnamed = observe_operation("allocate", "engine/allocate-3", T0, T1, None, failure="something odd")
    assert unnamed.failed == [FailedPart(chain_id=None, error_type="unknown")]


# ---------------------------------------------------------------------------- yield


def test_a_harvest_reports_its_totals_and_the_proceeds_of_rewards_sold_on_chains_that_were_done():
    result = HarvestResult(
        status="partial",
        summary="",
        chains=[
            ChainPart(chain_id=1, status="done", transactions=["0xaa"]),
            ChainPart(chain_id=42161, status="failed", error="e/harvest-1/chain-42161/harvest-1: ExecutionReverted: x"),
        ],
        yields=[
            YieldLine(key=AAVE, asset="USDC", decimals=6, source="rebase", amount=1_500_000),
            YieldLine(key=VAULT, asset="USDC", decimals=6, source="exchange_rate", amount=-20),
        ],
        totals={"1:USDC:rebase": 1_500_000, "1:USDC:exchange_rate": -20},
        proceeds=[
            RewardProceeds(chain_id=1, asset="WETH", quoted=10**18, realised=99 * 10**16),
            RewardProceeds(chain_id=42161, asset="USDC", quoted=5, realised=0),  # its batch reverted
        ],
    )
    seen = observe_operation("harvest", "e/harvest-1", T0, T1, result, decimals={(1, "WETH"): 18})
    assert [(y.chain_id, y.token, y.source, y.amount, y.decimals) for y in seen.yields] == [
        (1, "USDC", "exchange_rate", -20, 6),
        (1, "USDC", "rebase", 1_500_000, 6),
        (1, "WETH", "claimed", 99 * 10**16, 18),
    ]
    events = by_name(operation_events(seen))
    yields = {labels_of(e.labels)["source"]: e.value for e in events["floor_engine_harvest_yield_total"]}
    assert yields == {"rebase": 1.5, "claimed": 0.99}  # a loss does not run a counter backwards
    (error,) = events["floor_engine_errors_total"]
    assert labels_of(error.labels) == {"chain": "42161", "protocol": "", "type": "ExecutionReverted"}
    assert "floor_engine_rebalance_duration_seconds" not in events


# ---------------------------------------------------------------------------- the recorded engine's operations


def test_the_recorded_engines_operations_summarise():
    """Every result the recorded engine followed (what replays build) gives its summary."""
    seen = {wf: observe_operation(kind, wf, T0, T1, result) for kind, wf, result in recorded_results()}
    assert set(seen) == {
        "engine-rec/allocate-1",
        "engine-rec/rebalance-2",
        "engine-rec/harvest-3",
        "engine-rec/harvest-4",
        "engine-rec/request-capital-5",
    }
    allocate, rebalanced = seen["engine-rec/allocate-1"], seen["engine-rec/rebalance-2"]
    assert len(allocate.slippage) == 7  # every deposit landed: a vault's share rounding is its slippage
    assert max(s.bps for s in allocate.slippage) == 10_000 / 200_000_000_000  # 1 unit of 200,000 USDC
    assert [s.bps for s in rebalanced.slippage] == [0.0, 0.0, 0.0]  # accrual, no shortfall
    harvested = seen["engine-rec/harvest-4"]
    assert {(y.chain_id, y.token, y.source): y.amount for y in harvested.yields}[
        1, "WETH", "rebase"
    ] == 5666770314109659
    assert all(not o.failed and o.error_type == "" for o in seen.values())
    events = by_name(e for o in seen.values() for e in operation_events(o))
    (duration,) = events["floor_engine_rebalance_duration_seconds"]
    assert (duration.value, duration.key) == (42.0, "engine-rec/rebalance-2")
    assert len(events["floor_engine_move_slippage_bps"]) == 10
    assert {e.key for e in events["floor_engine_harvest_yield_total"]} == {
        "engine-rec/harvest-4/1:USDC:rebase",
        "engine-rec/harvest-4/1:USDC:exchange_rate",
        "engine-rec/harvest-4/1:WETH:rebase",
        "engine-rec/harvest-4/1:WETH:exchange_rate",
    }  # arbitrum's zero yield counts nothing
    weth = next(e for e in events["floor_engine_harvest_yield_total"] if e.key.endswith("1:WETH:rebase"))
    assert weth.value == float(Decimal(5666770314109659) / 10**18)


def test_a_summary_survives_the_activity_input_and_its_events_are_keyed_once():
    moves = [MoveOutcome(key=AAVE, action="deposit", planned=1_000, realised=990)]
    seen = observe_operation(
        "rebalance", "e/rebalance-9", T0, T1, rebalance(moves, [ChainPart(chain_id=1, status="done")])
    )
    again = type(seen).model_validate(json.loads(json.dumps(seen.model_dump(mode="json"))))
    assert again == seen
    events = operation_events(again)
    assert [(e.name, e.key, e.value) for e in events] == [
        ("floor_engine_rebalance_duration_seconds", "e/rebalance-9", 42.0),
        ("floor_engine_move_slippage_bps", "e/rebalance-9/move-0", 100.0),
    ]
    assert labels_of(events[1].labels) == {"chain": "1", "protocol": "aave-v3"}
    skipped = observe_operation("rebalance", "e/rebalance-10", T0, T1, rebalance([], [], "skipped"))
    assert operation_events(skipped) == []  # a rebalance that only read is not timed


# ---------------------------------------------------------------------------- the reads' rows


def test_market_marks_are_the_reports_rows_with_values_as_exact_text():
    liquidity = position_liquidity(AAVE, 5_000_000, 20_000_000, 5_000_000, "instant", 0)
    row = MarketReport(
        chain_id=1,
        protocol="aave-v3",
        market="USDC",
        asset="USDC",
        decimals=6,
        amount=5_000_000,
        withdrawable=5_000_000,
        liquidity=liquidity,
        value=Decimal("4.99950000"),
        apy=0.031,
        apy_source="quoted",
        apy_window_s=None,
        block_number=77,
        exit_slippage_bps=None,
    )
    idle = IdleReport(chain_id=1, asset="USDC", decimals=6, amount=10**6, value=None, block_number=77)
    mark, idle_mark = market_marks([row], [idle], T0)
    assert (mark.market, mark.protocol, mark.amount, mark.value_usd, mark.liquidity_ratio_bps) == (
        "1:aave-v3:USDC",
        "aave-v3",
        5_000_000,
        "4.99950000",
        2500,
    )
    assert (mark.max_safe_withdrawal, mark.apy, mark.block_number, mark.taken_at) == (
        liquidity.max_safe_withdrawal,
        0.031,
        77,
        T0,
    )
    assert (idle_mark.market, idle_mark.protocol, idle_mark.withdrawable, idle_mark.value_usd) == (
        "1:idle:USDC",
        "idle",
        10**6,
        None,
    )


def test_feed_ages_are_read_at_the_batchs_block_stale_or_not():
    def round_data(updated_at: int) -> ReadResult:
        words = [7, 100_000_000, updated_at, updated_at, 7]
        return ReadResult(True, b"".join(w.to_bytes(32, "big") for w in words))

    results = {
        price_segment("USDC"): [round_data(1_000)],
        price_segment("WETH"): [round_data(400)],  # past any heartbeat: its age is the point
        price_segment("DAI"): [round_data(0)],  # no round yet
        price_segment("WBTC"): [ReadResult(False, b"")],  # reverted
    }
    batch = ReadBatch(results=[], block_number=9, timestamp=1_060, eth_calls=1)
    assert feed_ages(["USDC", "WETH", "DAI", "WBTC"], results, batch) == {"USDC": 60, "WETH": 660}


def test_a_failed_attempt_is_labelled_with_the_chain_and_protocol_its_input_names():
    assert failure_labels(ReadHoldingsInput(chain_id=1, keys=[AAVE, VAULT])) == ("1", "")
    assert failure_labels(ReadHoldingsInput(chain_id=1, keys=[AAVE])) == ("1", "aave-v3")
    assert failure_labels(SignInput(chain_id=42161, txs=[])) == ("42161", "")
    assert failure_labels(ReconcileChainInput(run_id="r", chain_id=10)) == ("10", "")
    assert failure_labels(42161) == ("42161", "")  # tx_nonce_state's bare chain id
    assert failure_labels({"engine_id": "e", "events": []}) == ("", "")
    assert failure_labels(None) == ("", "")


def test_every_name_written_here_is_declared():
    names = {m.name for m in ALL_METRICS}
    assert {
        "floor_engine_errors_total",
        "floor_engine_rebalance_duration_seconds",
        "floor_engine_move_slippage_bps",
        "floor_engine_harvest_yield_total",
        "floor_engine_signer_gas_balance_eth",
        "floor_engine_price_feed_age_seconds",
    } <= names
