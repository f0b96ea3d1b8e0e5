"""Inputs and results of activities and workflows: one model each, so fields can be added
later without breaking running workflows. Pure pydantic: workflows import this module."""

from __future__ import annotations

from pydantic import Field, model_validator

from floor.models import AdapterKey, Amount, FrozenModel, Price, TxRecord
from floor.operations import AssetAmount, MoveOutcome, OperationResult, StrategyTarget
from floor.planning.allocation import AllocationLeg, DepositOutcome, PlannedDeposit
from floor.planning.caps import PlanCaps
from floor.planning.rebalance import Holding, Move


class ReadPositionsInput(FrozenModel):
    chain_id: int
    keys: list[AdapterKey]


class BuildDepositsInput(FrozenModel):
    chain_id: int
    asset: str
    deposits: list[PlannedDeposit] = Field(min_length=1)


class TotalAllocation(FrozenModel):
    """An allocation planned over the floor's total value (`floor/planning/total.py`): the idle
    amounts the request names (each capped by what the executor holds), every target's market
    read, the caps and the minimum trade (accounting units)."""

    amounts: list[AssetAmount] = Field(min_length=1)
    targets: list[StrategyTarget] = Field(min_length=1)
    caps: PlanCaps = PlanCaps()
    min_trade_value: int = Field(default=0, ge=0)


class AllocateInput(FrozenModel):
    """Allocate amounts already held by the executors into markets, by weight: per
    (chain, token) leg with relative weights (`legs`), or planned over the total (`total`)."""

    legs: list[AllocationLeg] = []
    total: TotalAllocation | None = None

    @model_validator(mode="after")
    def _one_leg_per_token(self) -> AllocateInput:
        if bool(self.legs) == (self.total is not None):
            raise ValueError("give either legs or a total allocation, not both and not neither")
        seen = set()
        for leg in self.legs:
            if (leg.chain_id, leg.asset) in seen:
                raise ValueError(f"two legs for {leg.asset} on chain {leg.chain_id}: merge them")
            seen.add((leg.chain_id, leg.asset))
        return self


class AllocateResult(OperationResult):
    planned: list[PlannedDeposit]
    transactions: list[TxRecord]
    outcomes: list[DepositOutcome] = []  # planned against realised, per market
    retry: AllocateInput | None = None  # the failed chains' legs, to send again on their own
    idle: dict[str, Amount] = {}  # "<chain>:<token>" -> what the executor holds after, unallocated
    moves: list[MoveOutcome] = []  # a total allocation's moves (withdrawals too), planned against realised
    notes: list[str] = []  # the planner's notes: cap cuts, shortfalls, moves below the minimum trade


class EngineSignal(FrozenModel):
    """An operator's pause or resume, with who asked and why (for the audit trail)."""

    reason: str = ""
    by: str = ""


class ReadHoldingsInput(FrozenModel):
    chain_id: int
    keys: list[AdapterKey]
    assets: list[str] = []  # tokens whose idle balance in the executor is read too
    prices: bool = False  # and the assets' Chainlink prices, in the same batch


class Holdings(FrozenModel):
    """One chain's markets and idle balances, read at one block (see read_holdings)."""

    chain_id: int
    block_number: int
    timestamp: int
    holdings: list[Holding]
    idle: dict[str, Amount]  # token symbol -> executor balance
    growth: dict[str, int]  # str(AdapterKey) -> growth index (1e27 scale)
    prices: dict[str, Price] = {}  # token symbol -> its feed's price (when asked), same block


class Delivery(FrozenModel):
    destination: str
    amount: Amount


class BuildMovesInput(FrozenModel):
    chain_id: int
    asset: str
    moves: list[Move]
    deliver: Delivery | None = None
