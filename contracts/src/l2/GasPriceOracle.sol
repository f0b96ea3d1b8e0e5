// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title GasPriceOracle (local stand-in)
/// @notice OP Stack's GasPriceOracle predeploy (0x420000000000000000000000000000000000000F) for
/// anvil, placed at that address with `anvil_setCode`. Its views keep the real ABI and compute
/// the L1 data fee with the real Ecotone and Fjord formulas and constants (contracts-bedrock
/// src/L2/GasPriceOracle.sol 1.3.0; the Fjord size estimate is FastLZ's compressed length, as
/// Solady's LibZip.flzCompress gives it, written here as a length count).
/// Leaves out:
/// - the L1Block predeploy and the L1 attributes deposit transaction that update the L1 fee
///   parameters every L2 block: here `setL1FeeParameters`, callable by anyone, sets them (a
///   constructor does not run under setCode, so nothing is set before it is called);
/// - the depositor-only `setEcotone` / `setFjord` upgrade switches: `setUpgrades` sets both flags;
/// - pre-Ecotone (Bedrock) pricing, its `overhead()` and `scalar()`: `getL1Fee` and
///   `getL1GasUsed` revert until Ecotone is set;
/// - later upgrades' additions (Isthmus' operator fee and its views);
/// - the proxy in front of the predeploy.
contract GasPriceOracle {
    /// @notice Number of decimals used in the scalars.
    uint256 public constant DECIMALS = 6;

    /// @notice The release whose formulas this stand-in computes.
    string public constant version = "1.3.0";

    // The linear regression from the FastLZ size to the Brotli-compressed size (Fjord), scaled by 1e6.
    int256 private constant COST_INTERCEPT = -42_585_600;
    uint256 private constant COST_FASTLZ_COEF = 836_500;
    uint256 private constant MIN_TRANSACTION_SIZE = 100;

    // Slot 0 as in the real contract: the two upgrade flags.
    bool public isEcotone;
    bool public isFjord;
    // What the real contract reads from the L1Block predeploy.
    uint256 private _l1BaseFee;
    uint256 private _blobBaseFee;
    uint32 private _baseFeeScalar;
    uint32 private _blobBaseFeeScalar;

    /// @notice Sets the L1 fee parameters (test setter; on a real chain the L1 attributes deposit
    /// transaction sets them in L1Block every block).
    function setL1FeeParameters(
        uint256 l1BaseFee_,
        uint256 blobBaseFee_,
        uint32 baseFeeScalar_,
        uint32 blobBaseFeeScalar_
    ) external {
        _l1BaseFee = l1BaseFee_;
        _blobBaseFee = blobBaseFee_;
        _baseFeeScalar = baseFeeScalar_;
        _blobBaseFeeScalar = blobBaseFeeScalar_;
    }

    /// @notice Sets the upgrade flags (test setter). Fjord needs Ecotone, as on the real contract.
    function setUpgrades(bool ecotone, bool fjord) external {
        require(ecotone || !fjord, "GasPriceOracle: Fjord can only be activated after Ecotone");
        isEcotone = ecotone;
        isFjord = fjord;
    }

    /// @notice The L1 portion of the fee of a transaction, from its unsigned RLP encoding.
    function getL1Fee(bytes memory _data) external view returns (uint256) {
        if (isFjord) {
            return _fjordL1Cost(_flzCompressedLength(_data) + 68);
        }
        require(isEcotone, "GasPriceOracle stand-in: pre-Ecotone pricing is not modelled");
        uint256 l1GasUsed = _getCalldataGas(_data);
        uint256 scaledBaseFee = uint256(_baseFeeScalar) * 16 * _l1BaseFee;
        uint256 scaledBlobBaseFee = uint256(_blobBaseFeeScalar) * _blobBaseFee;
        return l1GasUsed * (scaledBaseFee + scaledBlobBaseFee) / (16 * 10 ** DECIMALS);
    }

    /// @notice An upper bound of the L1 fee for an unsigned transaction of this size (Fjord).
    function getL1FeeUpperBound(uint256 _unsignedTxSize) external view returns (uint256) {
        require(isFjord, "GasPriceOracle: getL1FeeUpperBound only supports Fjord");
        uint256 txSize = _unsignedTxSize + 68;
        return _fjordL1Cost(txSize + txSize / 255 + 16);
    }

    /// @notice The L1 gas the transaction is charged as (deprecated on the real contract too).
    function getL1GasUsed(bytes memory _data) public view returns (uint256) {
        if (isFjord) {
            return _fjordLinearRegression(_flzCompressedLength(_data) + 68) * 16 / 1e6;
        }
        require(isEcotone, "GasPriceOracle stand-in: pre-Ecotone pricing is not modelled");
        return _getCalldataGas(_data);
    }

    function gasPrice() public view returns (uint256) {
        return block.basefee;
    }

    function baseFee() public view returns (uint256) {
        return block.basefee;
    }

    function l1BaseFee() public view returns (uint256) {
        return _l1BaseFee;
    }

    function blobBaseFee() public view returns (uint256) {
        return _blobBaseFee;
    }

    function baseFeeScalar() public view returns (uint32) {
        return _baseFeeScalar;
    }

    function blobBaseFeeScalar() public view returns (uint32) {
        return _blobBaseFeeScalar;
    }

    function decimals() public pure returns (uint256) {
        return DECIMALS;
    }

    /// @dev Calldata gas of the data (4 a zero byte, 16 any other) plus 68 non-zero bytes for the
    /// signature the unsigned input lacks.
    function _getCalldataGas(bytes memory _data) internal pure returns (uint256 total) {
        for (uint256 i = 0; i < _data.length; i++) {
            total += _data[i] == 0 ? 4 : 16;
        }
        return total + (68 * 16);
    }

    function _fjordL1Cost(uint256 _fastLzSize) internal view returns (uint256) {
        uint256 estimatedSize = _fjordLinearRegression(_fastLzSize);
        uint256 feeScaled = uint256(_baseFeeScalar) * 16 * _l1BaseFee + uint256(_blobBaseFeeScalar) * _blobBaseFee;
        return estimatedSize * feeScaled / (10 ** (DECIMALS * 2));
    }

    function _fjordLinearRegression(uint256 _fastLzSize) internal pure returns (uint256) {
        int256 estimatedSize = COST_INTERCEPT + int256(COST_FASTLZ_COEF * _fastLzSize);
        if (estimatedSize < int256(MIN_TRANSACTION_SIZE) * 1e6) {
            estimatedSize = int256(MIN_TRANSACTION_SIZE) * 1e6;
        }
        return uint256(estimatedSize);
    }

    // ---------------------------------------------------------------- FastLZ (level 1) length

    /// @dev The length of FastLZ level-1 compression of `data`: the LZ77 parse with a 13-bit hash
    /// table of 3-byte sequences, matches up to 8191 bytes back, literal runs of up to 32 bytes
    /// (one control byte each), match codes of 2 bytes (length under 7) or 3.
    function _flzCompressedLength(bytes memory data) internal pure returns (uint256 n) {
        uint256 len = data.length;
        uint256[8192] memory table; // position + 0 of the last 3-byte sequence per hash
        uint256 anchor = 0; // first byte not yet emitted
        uint256 ipLimit = len > 13 ? len - 13 : 0;
        uint256 ip = 2;
        while (ip < ipLimit) {
            uint256 ref;
            uint256 distance;
            while (true) {
                uint256 seq = _u24(data, ip);
                uint256 h = _hash(seq);
                ref = table[h];
                table[h] = ip;
                distance = ip - ref;
                if (ip >= ipLimit) break;
                ip++;
                if (distance <= 0x1fff && seq == _u24(data, ref)) break;
            }
            if (ip >= ipLimit) break;
            ip--;
            if (ip > anchor) n += _literalsLength(ip - anchor);
            uint256 matched = _matchLength(data, ref + 3, ip + 3, ipLimit + 9);
            n += _matchCodeLength(matched);
            ip += matched;
            table[_hash(_u24(data, ip))] = ip;
            ip++;
            table[_hash(_u24(data, ip))] = ip;
            ip++;
            anchor = ip;
        }
        n += _literalsLength(len - anchor);
    }

    function _u24(bytes memory data, uint256 i) private pure returns (uint256) {
        return uint256(uint8(data[i])) | (uint256(uint8(data[i + 1])) << 8) | (uint256(uint8(data[i + 2])) << 16);
    }

    function _hash(uint256 v) private pure returns (uint256) {
        return ((2654435769 * v) >> 19) & 0x1fff;
    }

    /// @dev Bytes compared from p and q until the end e (exclusive for q); one past the first
    /// mismatch, as FastLZ's comparison counts it.
    function _matchLength(bytes memory data, uint256 p, uint256 q, uint256 e) private pure returns (uint256 l) {
        uint256 end = e - q;
        while (l < end) {
            if (data[p + l] != data[q + l]) end = 0;
            l++;
        }
    }

    function _literalsLength(uint256 runs) private pure returns (uint256 n) {
        n = 0x21 * (runs / 0x20);
        runs %= 0x20;
        if (runs != 0) n += runs + 1;
    }

    function _matchCodeLength(uint256 l) private pure returns (uint256) {
        l -= 1;
        return 3 * (l / 262) + (l % 262 >= 6 ? 3 : 2);
    }
}
