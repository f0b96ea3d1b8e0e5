"""A reserve's state as the Pool reports it: `getReserveData`'s struct and the configuration
bitmap inside it (Aave's `ReserveConfiguration`: bit 56 active, 57 frozen, 60 paused,
bits 48-55 the decimals, 64-79 the reserve factor in basis points, 116-151 the supply cap in
whole tokens, 0 for none).
"""

from __future__ import annotations

from dataclasses import dataclass

# Aave's ReserveDataLegacy, as getReserveData returns it (v3.0 to v3.5).
RESERVE_DATA = (
    "((uint256),uint128,uint128,uint128,uint128,uint128,uint40,uint16,"
    "address,address,address,address,uint128,uint128,uint128)"
)
CONFIGURATION = 0
CURRENT_LIQUIDITY_RATE = 2
VARIABLE_BORROW_INDEX = 3  # as of the last update, a ray
VARIABLE_DEBT_TOKEN = 10
ACCRUED_TO_TREASURY = 12  # scaled aTokens owed to the treasury: they count towards the supply cap

DECIMALS_START_BIT = 48
ACTIVE_BIT = 56
FROZEN_BIT = 57
PAUSED_BIT = 60
RESERVE_FACTOR_START_BIT = 64
RESERVE_FACTOR_BITS = 16
SUPPLY_CAP_START_BIT = 116
SUPPLY_CAP_BITS = 36


@dataclass(frozen=True)
class ReserveFlags:
    active: bool
    frozen: bool
    paused: bool
    decimals: int
    supply_cap: int  # whole tokens; 0: no cap
    reserve_factor: int = 0  # basis points of the borrowers' interest that go to the treasury

    @classmethod
    def of(cls, configuration: int) -> ReserveFlags:
        return cls(
            active=bool(configuration >> ACTIVE_BIT & 1),
            frozen=bool(configuration >> FROZEN_BIT & 1),
            paused=bool(configuration >> PAUSED_BIT & 1),
            decimals=configuration >> DECIMALS_START_BIT & 0xFF,
            supply_cap=configuration >> SUPPLY_CAP_START_BIT & (2**SUPPLY_CAP_BITS - 1),
            reserve_factor=configuration >> RESERVE_FACTOR_START_BIT & (2**RESERVE_FACTOR_BITS - 1),
        )

    def bitmap(self) -> int:
        """The configuration word these flags read from (the other fields zero)."""
        return (
            self.active << ACTIVE_BIT
            | self.frozen << FROZEN_BIT
            | self.paused << PAUSED_BIT
            | self.decimals << DECIMALS_START_BIT
            | self.supply_cap << SUPPLY_CAP_START_BIT
            | self.reserve_factor << RESERVE_FACTOR_START_BIT
        )
