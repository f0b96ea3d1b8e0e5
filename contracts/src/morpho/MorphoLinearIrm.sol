// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IIrm, MarketParams, Market, wMulDown, wDivDown} from "./MorphoTypes.sol";

/// @title MorphoLinearIrm
/// @notice Interest rate model stand-in for Morpho Blue markets, with the real IIrm interface:
/// borrowRate and borrowRateView return a per-second borrow rate, WAD-scaled, for the market
/// state Morpho passes in. The rate is linear in utilisation, as Morpho's own IrmMock:
/// baseRate + slope * utilisation, with utilisation = totalBorrowAssets.wDivDown(totalSupplyAssets)
/// (zero on an empty market). It stands in for the AdaptiveCurveIrm of production markets, which
/// also moves its curve over time; this one is stateless, so borrowRate and borrowRateView agree.
contract MorphoLinearIrm is IIrm {
    /// @notice Borrow rate per second at zero utilisation (WAD).
    uint256 public immutable baseRatePerSecond;
    /// @notice Rate per second added at full utilisation (WAD).
    uint256 public immutable slopePerSecond;

    constructor(uint256 baseRatePerSecond_, uint256 slopePerSecond_) {
        baseRatePerSecond = baseRatePerSecond_;
        slopePerSecond = slopePerSecond_;
    }

    function borrowRateView(MarketParams memory, Market memory market) public view returns (uint256) {
        if (market.totalSupplyAssets == 0) return baseRatePerSecond;
        uint256 utilization = wDivDown(market.totalBorrowAssets, market.totalSupplyAssets);
        return baseRatePerSecond + wMulDown(slopePerSecond, utilization);
    }

    function borrowRate(MarketParams memory marketParams, Market memory market) external view returns (uint256) {
        return borrowRateView(marketParams, market);
    }
}
