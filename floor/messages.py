"""Inputs and results of activities and workflows: one model each, so fields can be added
later without breaking running workflows. Pure pydantic: workflows import this module."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from floor.models import AdapterKey, Amount, TxRecord
from floor.operations import OperationResult
from floor.risk.allocation import AllocationLeg, DepositOutcome, PlannedDeposit
from floor.risk.rebalance import Holding, Move


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReadPositionsInput(Message):
    chain_id: int
    keys: list[AdapterKey]


class BuildDepositsInput(Message):
    chain_id: int
    asset: str
    deposits: list[PlannedDeposit] = Field(min_length=1)


class AllocateInput(Message):
    """Allocate amounts already held by the executors into markets, by weight."""

    legs: list[AllocationLeg] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_leg_per_token(self) -> AllocateInput:
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


class EngineSignal(Message):
    """An operator's pause or resume, with who asked and why (for the audit trail)."""

    reason: str = ""
    by: str = ""


class ReadHoldingsInput(Message):
    chain_id: int
    keys: list[AdapterKey]
    assets: list[str] = []  # tokens whose idle balance in the executor is read too


class Holdings(Message):
    """One chain's markets and idle balances, read at one block (see read_holdings)."""

    chain_id: int
    block_number: int
    timestamp: int
    holdings: list[Holding]
    idle: dict[str, Amount]  # token symbol -> executor balance
    growth: dict[str, int]  # str(AdapterKey) -> growth index (1e27 scale)


class Delivery(Message):
    destination: str
    amount: Amount


class BuildMovesInput(Message):
    chain_id: int
    asset: str
    moves: list[Move]
    deliver: Delivery | None = None
