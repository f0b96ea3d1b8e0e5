// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IOracle} from "./MorphoTypes.sol";

/// @title MorphoFixedPriceOracle
/// @notice Oracle stand-in for Morpho Blue markets, with the real IOracle interface: price() is
/// the price of one collateral asset quoted in loan assets, scaled by 1e36 (so it carries
/// 36 + loan decimals - collateral decimals decimals). It answers a price its admin sets,
/// where production markets read Chainlink feeds through MorphoChainlinkOracleV2.
contract MorphoFixedPriceOracle is IOracle {
    address public immutable admin;
    uint256 public price;

    event PriceSet(uint256 price);

    error NotAdmin(address caller);

    constructor(address admin_, uint256 price_) {
        admin = admin_;
        price = price_;
        emit PriceSet(price_);
    }

    function setPrice(uint256 price_) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        price = price_;
        emit PriceSet(price_);
    }
}
