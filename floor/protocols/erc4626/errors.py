"""ERC-4626 vaults' refusals, named, and the reverts that mean them: OpenZeppelin's
`ERC4626ExceededMax*` errors, which MetaMorpho and most vaults built on OpenZeppelin give when
an action passes the vault's own `max*` view."""

from __future__ import annotations

from floor.errors import InsufficientLiquidity, MarketRefused
from floor.protocols.base import KnownRevert


class ExceededMaxDeposit(MarketRefused):
    """The vault takes less than the deposit now (`maxDeposit`: its caps, or a pause)."""


REVERTS = (
    KnownRevert(
        "ERC4626ExceededMaxDeposit",
        ExceededMaxDeposit,
        "the vault takes less than that now",
        "ERC4626ExceededMaxDeposit(address,uint256,uint256)",
    ),
    KnownRevert(
        "ERC4626ExceededMaxMint",
        ExceededMaxDeposit,
        "the vault mints fewer shares than that now",
        "ERC4626ExceededMaxMint(address,uint256,uint256)",
    ),
    KnownRevert(
        "ERC4626ExceededMaxWithdraw",
        InsufficientLiquidity,
        "the vault lets the owner withdraw less than that now",
        "ERC4626ExceededMaxWithdraw(address,uint256,uint256)",
    ),
    KnownRevert(
        "ERC4626ExceededMaxRedeem",
        InsufficientLiquidity,
        "the vault lets the owner redeem fewer shares than that now",
        "ERC4626ExceededMaxRedeem(address,uint256,uint256)",
    ),
)
