// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title MorphoSupplyValuer
/// @notice Part of the engine, not a stand-in: what an account's supply in one Morpho Blue market
///     is worth in the loan token, for the FloorExecutor's loss bound (a Morpho position is not a
///     token, so the executor asks this view). Morpho Blue's own arithmetic
///     (SharesMathLib.toAssetsDown with its virtual shares and assets) over the market's stored
///     totals: interest accrued since the market's last update is left out, which values the
///     position a little low, never high.
interface IMorphoBlue {
    function position(bytes32 id, address user)
        external
        view
        returns (uint256 supplyShares, uint128 borrowShares, uint128 collateral);
    function market(bytes32 id)
        external
        view
        returns (
            uint128 totalSupplyAssets,
            uint128 totalSupplyShares,
            uint128 totalBorrowAssets,
            uint128 totalBorrowShares,
            uint128 lastUpdate,
            uint128 fee
        );
}

contract MorphoSupplyValuer {
    uint256 internal constant VIRTUAL_SHARES = 1e6;
    uint256 internal constant VIRTUAL_ASSETS = 1;

    /// @notice The loan-token amount `account`'s supply shares in market `id` of `morpho` redeem for.
    function supplyAssets(address morpho, bytes32 id, address account) external view returns (uint256) {
        (uint256 shares,,) = IMorphoBlue(morpho).position(id, account);
        (uint128 totalAssets, uint128 totalShares,,,,) = IMorphoBlue(morpho).market(id);
        return shares * (uint256(totalAssets) + VIRTUAL_ASSETS) / (uint256(totalShares) + VIRTUAL_SHARES);
    }
}
