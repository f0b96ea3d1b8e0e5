// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ArbGasInfo (local stand-in)
/// @notice Arbitrum's ArbGasInfo precompile (0x000000000000000000000000000000000000006C) for anvil,
/// placed at that address with `anvil_setCode`. The views below keep the real ABI
/// (nitro-contracts src/precompiles/ArbGasInfo.sol) and answer as nitro's precompile computes
/// them (precompiles/ArbGasInfo.go, ArbOS 4 and later) from two numbers of ArbOS state: the L1
/// price per unit (its L1 base fee estimate) and the minimum L2 base fee.
/// Leaves out:
/// - ArbOS itself: the two numbers are set by `setPrices`, callable by anyone (a constructor
///   does not run under setCode, so both are zero until it is called); nothing updates the L1
///   estimate from batch posting, and anvil's base fee does not follow ArbOS' backlog pricing or
///   stop at the minimum;
/// - the poster fee: anvil charges no L1 component in gas used, so `getCurrentTxL1GasFees` is 0;
/// - the L1 pricing and backlog views (surplus, inertia, rewards, equilibration, batch charges,
///   gas backlog and tolerance): not present, so calling one reverts.
contract ArbGasInfo {
    // params.TxDataNonZeroGasEIP2028: L1 gas units per byte of calldata.
    uint256 private constant UNITS_PER_BYTE = 16;
    // AssumedSimpleTxSize: the bytes of a simple transaction without calldata.
    uint256 private constant ASSUMED_SIMPLE_TX_SIZE = 140;
    // storage.StorageWriteCost: L2 gas of one storage allocation (params.SstoreSetGasEIP2200).
    uint256 private constant STORAGE_WRITE_COST = 20_000;
    uint256 private constant SPEED_LIMIT_PER_SECOND = 7_000_000;
    uint256 private constant PER_BLOCK_GAS_LIMIT = 32_000_000;

    uint256 private _l1PricePerUnit;
    uint256 private _minBaseFeeWei;

    /// @notice Sets ArbOS' L1 base fee estimate and minimum L2 base fee (test setter).
    function setPrices(uint256 l1BaseFeeEstimate, uint256 minimumGasPrice) external {
        _l1PricePerUnit = l1BaseFeeEstimate;
        _minBaseFeeWei = minimumGasPrice;
    }

    /// @notice (per L2 tx, per L1 calldata byte, per storage allocation, per ArbGas base,
    /// per ArbGas congestion, per ArbGas total), in wei.
    function getPricesInWeiWithAggregator(address)
        public
        view
        returns (uint256, uint256, uint256, uint256, uint256, uint256)
    {
        uint256 l2GasPrice = block.basefee;
        uint256 weiForL1Calldata = _l1PricePerUnit * UNITS_PER_BYTE;
        uint256 perL2Tx = weiForL1Calldata * ASSUMED_SIMPLE_TX_SIZE;
        uint256 perArbGasBase = l2GasPrice < _minBaseFeeWei ? l2GasPrice : _minBaseFeeWei;
        uint256 perArbGasCongestion = l2GasPrice - perArbGasBase;
        uint256 weiForL2Storage = l2GasPrice * STORAGE_WRITE_COST;
        return (perL2Tx, weiForL1Calldata, weiForL2Storage, perArbGasBase, perArbGasCongestion, l2GasPrice);
    }

    function getPricesInWei() external view returns (uint256, uint256, uint256, uint256, uint256, uint256) {
        return getPricesInWeiWithAggregator(address(0));
    }

    /// @notice (per L2 tx, per L1 calldata byte, per storage allocation), in ArbGas.
    function getPricesInArbGasWithAggregator(address) public view returns (uint256, uint256, uint256) {
        uint256 l2GasPrice = block.basefee;
        uint256 weiForL1Calldata = _l1PricePerUnit * UNITS_PER_BYTE;
        uint256 weiPerL2Tx = weiForL1Calldata * ASSUMED_SIMPLE_TX_SIZE;
        if (l2GasPrice == 0) return (0, 0, STORAGE_WRITE_COST);
        return (weiPerL2Tx / l2GasPrice, weiForL1Calldata / l2GasPrice, STORAGE_WRITE_COST);
    }

    function getPricesInArbGas() external view returns (uint256, uint256, uint256) {
        return getPricesInArbGasWithAggregator(address(0));
    }

    /// @notice (speed limit per second, gas pool max, max tx gas limit); the last two are both
    /// the per-block gas limit, as nitro answers.
    function getGasAccountingParams() external pure returns (uint256, uint256, uint256) {
        return (SPEED_LIMIT_PER_SECOND, PER_BLOCK_GAS_LIMIT, PER_BLOCK_GAS_LIMIT);
    }

    /// @notice The minimum gas price a transaction needs (ArbOS' minimum L2 base fee).
    function getMinimumGasPrice() external view returns (uint256) {
        return _minBaseFeeWei;
    }

    /// @notice ArbOS' estimate of the L1 base fee, in wei.
    function getL1BaseFeeEstimate() public view returns (uint256) {
        return _l1PricePerUnit;
    }

    /// @notice Deprecated: the same as getL1BaseFeeEstimate.
    function getL1GasPriceEstimate() external view returns (uint256) {
        return getL1BaseFeeEstimate();
    }

    /// @notice The L1 fee the current transaction pays the poster: none on anvil.
    function getCurrentTxL1GasFees() external pure returns (uint256) {
        return 0;
    }
}
