// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title WadRayMath
/// @notice Fixed-point helpers as in Aave V3.5's WadRayMath: the default operations round
/// half up (Aave uses them for its indexes and rates), and the Floor / Ceil variants give
/// the directed rounding V3.5 applies to scaled token amounts (TokenMath): aTokens minted
/// round down, burnt round up, balances round down.
library WadRayMath {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant HALF_WAD = 0.5e18;
    uint256 internal constant RAY = 1e27;
    uint256 internal constant HALF_RAY = 0.5e27;
    uint256 internal constant WAD_RAY_RATIO = 1e9;

    // Checked arithmetic reverts on overflow, matching Aave's explicit guards.
    function wadMul(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * b + HALF_WAD) / WAD;
    }

    function wadDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * WAD + b / 2) / b;
    }

    function rayMul(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * b + HALF_RAY) / RAY;
    }

    function rayMulFloor(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * b) / RAY;
    }

    function rayMulCeil(uint256 a, uint256 b) internal pure returns (uint256) {
        uint256 product = a * b;
        return product / RAY + (product % RAY == 0 ? 0 : 1);
    }

    function rayDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * RAY + b / 2) / b;
    }

    function rayDivFloor(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * RAY) / b;
    }

    function rayDivCeil(uint256 a, uint256 b) internal pure returns (uint256) {
        uint256 scaled = a * RAY;
        return scaled / b + (scaled % b == 0 ? 0 : 1);
    }

    function rayToWad(uint256 a) internal pure returns (uint256) {
        uint256 result = a / WAD_RAY_RATIO;
        if (a % WAD_RAY_RATIO >= WAD_RAY_RATIO / 2) result += 1;
        return result;
    }

    function wadToRay(uint256 a) internal pure returns (uint256) {
        return a * WAD_RAY_RATIO;
    }
}
