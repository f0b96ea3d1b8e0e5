// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title AaveOracle
/// @notice Local stand-in for Aave V3's AaveOracle. It keeps the views the engine reads
/// (BASE_CURRENCY, BASE_CURRENCY_UNIT, getAssetPrice, getAssetsPrices) with Aave's ABI and
/// answers, so the engine's price reader runs unchanged against it. Prices are set by its
/// owner instead of read from Chainlink (setAssetPrice, as on Aave's mock PriceOracle).
/// Not modelled: Chainlink sources (setAssetSources, getSourceOfAsset), the fallback oracle
/// (setFallbackOracle, getFallbackOracle) and their events, ADDRESSES_PROVIDER and its ACL
/// admins (an owner instead).
/// A missing price: the real getAssetPrice asks the fallback oracle when an asset has no
/// source or its source answers <= 0. With no fallback set (address(0)) that call meets no
/// code, and under solc 0.8.10 (Aave's) the ABI decoder then finds no return data and reverts
/// with empty data; with a fallback set it returns whatever the fallback says (Aave's mock
/// PriceOracle answers 0 for an asset it has no price for). The stand-in behaves as the
/// first case: an asset with no price (or a price set to 0) reverts with empty data, and
/// getAssetsPrices with it.
contract AaveOracle {
    address public immutable owner;
    address public immutable BASE_CURRENCY; // address(0) for USD, as on Aave's markets
    uint256 public immutable BASE_CURRENCY_UNIT; // 1e8 for USD

    mapping(address => uint256) private prices;

    event BaseCurrencySet(address indexed baseCurrency, uint256 baseCurrencyUnit);
    event AssetPriceSet(address indexed asset, uint256 price);

    error NotOwner(address caller);

    constructor(address owner_, address baseCurrency, uint256 baseCurrencyUnit) {
        owner = owner_;
        BASE_CURRENCY = baseCurrency;
        BASE_CURRENCY_UNIT = baseCurrencyUnit;
        emit BaseCurrencySet(baseCurrency, baseCurrencyUnit);
    }

    /// @notice The stand-in's price feed: `price` in base-currency units per whole token.
    function setAssetPrice(address asset, uint256 price) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        prices[asset] = price;
        emit AssetPriceSet(asset, price);
    }

    function getAssetPrice(address asset) public view returns (uint256) {
        // As the real one: the base currency is worth one unit of itself.
        if (asset == BASE_CURRENCY) return BASE_CURRENCY_UNIT;
        uint256 price = prices[asset];
        // The real oracle's call to a fallback at address(0): empty revert data.
        if (price == 0) revert();
        return price;
    }

    function getAssetsPrices(address[] calldata assets) external view returns (uint256[] memory) {
        uint256[] memory out = new uint256[](assets.length);
        for (uint256 i = 0; i < assets.length; i++) {
            out[i] = getAssetPrice(assets[i]);
        }
        return out;
    }
}
