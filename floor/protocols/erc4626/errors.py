"""ERC-4626 vaults' refusals, named, and the reverts that mean them.

OpenZeppelin's `ERC4626ExceededMax*` errors come from vaults that keep OpenZeppelin's
deposit/withdraw (they check the `max*` views first). MetaMorpho does not raise them: it
overrides those functions without the checks and reverts from its own ErrorsLib
(morpho-org/metamorpho src/libraries/ErrorsLib.sol) where the Morpho markets cannot follow.
What a vault user can hit there: `NotEnoughLiquidity()` (a withdraw or redeem beyond the
markets' liquidity, `maxWithdraw`/`maxRedeem`), `AllCapsReached()` (a deposit or mint beyond
the markets' caps, `maxDeposit`), and OpenZeppelin's ERC-20 errors for shares the owner lacks
(`ERC20InsufficientBalance`, decoded by the executor layer). The rest of ErrorsLib answers
the vault's owner, curator, allocator and guardian only."""

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
    KnownRevert(
        "NotEnoughLiquidity",
        InsufficientLiquidity,
        "the vault's markets cannot pay that out now (MetaMorpho; maxWithdraw is the bound)",
        "NotEnoughLiquidity()",
    ),
    KnownRevert(
        "AllCapsReached",
        ExceededMaxDeposit,
        "the vault's markets are at their caps (MetaMorpho; maxDeposit is the bound)",
        "AllCapsReached()",
    ),
)
