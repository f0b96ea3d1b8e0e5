// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// Morpho Blue's types, interfaces, constants, error strings and maths (IMorpho, IIrm, IOracle,
// the callbacks, ConstantsLib, ErrorsLib, MathLib, SharesMathLib, UtilsLib, MarketParamsLib,
// SafeTransferLib), shared by the Morpho stand-in and its IRM and oracle stand-ins. The
// libraries are written as free functions so that they add no contract names to the build;
// their bodies are Morpho's.

type Id is bytes32;

struct MarketParams {
    address loanToken;
    address collateralToken;
    address oracle;
    address irm;
    uint256 lltv;
}

/// @dev For `feeRecipient`, `supplyShares` does not contain the shares accrued since the last interest accrual.
struct Position {
    uint256 supplyShares;
    uint128 borrowShares;
    uint128 collateral;
}

/// @dev The totals do not contain the interest accrued since `lastUpdate`.
struct Market {
    uint128 totalSupplyAssets;
    uint128 totalSupplyShares;
    uint128 totalBorrowAssets;
    uint128 totalBorrowShares;
    uint128 lastUpdate;
    uint128 fee;
}

/// @notice Interface that interest rate models used by Morpho implement. Rates are per second, WAD.
interface IIrm {
    function borrowRate(MarketParams memory marketParams, Market memory market) external returns (uint256);
    function borrowRateView(MarketParams memory marketParams, Market memory market) external view returns (uint256);
}

/// @notice Price of 1 collateral asset quoted in loan assets, scaled by 1e36 (ORACLE_PRICE_SCALE).
interface IOracle {
    function price() external view returns (uint256);
}

interface IMorphoSupplyCallback {
    function onMorphoSupply(uint256 assets, bytes calldata data) external;
}

interface IMorphoRepayCallback {
    function onMorphoRepay(uint256 assets, bytes calldata data) external;
}

interface IMorphoSupplyCollateralCallback {
    function onMorphoSupplyCollateral(uint256 assets, bytes calldata data) external;
}

interface IMorphoFlashLoanCallback {
    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external;
}

// ---------------------------------------------------------------- ConstantsLib

uint256 constant MAX_FEE = 0.25e18;
uint256 constant ORACLE_PRICE_SCALE = 1e36;
bytes32 constant DOMAIN_TYPEHASH = keccak256("EIP712Domain(uint256 chainId,address verifyingContract)");

// ---------------------------------------------------------------- ErrorsLib (the revert strings)

string constant NOT_OWNER = "not owner";
string constant MAX_LLTV_EXCEEDED = "max LLTV exceeded";
string constant MAX_FEE_EXCEEDED = "max fee exceeded";
string constant ALREADY_SET = "already set";
string constant IRM_NOT_ENABLED = "IRM not enabled";
string constant LLTV_NOT_ENABLED = "LLTV not enabled";
string constant MARKET_ALREADY_CREATED = "market already created";
string constant NO_CODE = "no code";
string constant MARKET_NOT_CREATED = "market not created";
string constant INCONSISTENT_INPUT = "inconsistent input";
string constant ZERO_ASSETS = "zero assets";
string constant ZERO_ADDRESS = "zero address";
string constant UNAUTHORIZED = "unauthorized";
string constant INSUFFICIENT_COLLATERAL = "insufficient collateral";
string constant INSUFFICIENT_LIQUIDITY = "insufficient liquidity";
string constant TRANSFER_REVERTED = "transfer reverted";
string constant TRANSFER_RETURNED_FALSE = "transfer returned false";
string constant TRANSFER_FROM_REVERTED = "transferFrom reverted";
string constant TRANSFER_FROM_RETURNED_FALSE = "transferFrom returned false";
string constant MAX_UINT128_EXCEEDED = "max uint128 exceeded";

// ---------------------------------------------------------------- MathLib

uint256 constant WAD = 1e18;

/// @dev (x * y) / WAD rounded down.
function wMulDown(uint256 x, uint256 y) pure returns (uint256) {
    return mulDivDown(x, y, WAD);
}

/// @dev (x * WAD) / y rounded down.
function wDivDown(uint256 x, uint256 y) pure returns (uint256) {
    return mulDivDown(x, WAD, y);
}

/// @dev (x * WAD) / y rounded up.
function wDivUp(uint256 x, uint256 y) pure returns (uint256) {
    return mulDivUp(x, WAD, y);
}

/// @dev (x * y) / d rounded down.
function mulDivDown(uint256 x, uint256 y, uint256 d) pure returns (uint256) {
    return (x * y) / d;
}

/// @dev (x * y) / d rounded up.
function mulDivUp(uint256 x, uint256 y, uint256 d) pure returns (uint256) {
    return (x * y + (d - 1)) / d;
}

/// @dev The first three non-zero terms of the Taylor expansion of e^(nx) - 1, to approximate a
/// continuous compound interest rate.
function wTaylorCompounded(uint256 x, uint256 n) pure returns (uint256) {
    uint256 firstTerm = x * n;
    uint256 secondTerm = mulDivDown(firstTerm, firstTerm, 2 * WAD);
    uint256 thirdTerm = mulDivDown(secondTerm, firstTerm, 3 * WAD);

    return firstTerm + secondTerm + thirdTerm;
}

// ---------------------------------------------------------------- SharesMathLib

/// @dev Virtual shares and assets blunt share price manipulation (OpenZeppelin's method).
uint256 constant VIRTUAL_SHARES = 1e6;
uint256 constant VIRTUAL_ASSETS = 1;

function toSharesDown(uint256 assets, uint256 totalAssets, uint256 totalShares) pure returns (uint256) {
    return mulDivDown(assets, totalShares + VIRTUAL_SHARES, totalAssets + VIRTUAL_ASSETS);
}

function toAssetsDown(uint256 shares, uint256 totalAssets, uint256 totalShares) pure returns (uint256) {
    return mulDivDown(shares, totalAssets + VIRTUAL_ASSETS, totalShares + VIRTUAL_SHARES);
}

function toSharesUp(uint256 assets, uint256 totalAssets, uint256 totalShares) pure returns (uint256) {
    return mulDivUp(assets, totalShares + VIRTUAL_SHARES, totalAssets + VIRTUAL_ASSETS);
}

function toAssetsUp(uint256 shares, uint256 totalAssets, uint256 totalShares) pure returns (uint256) {
    return mulDivUp(shares, totalAssets + VIRTUAL_ASSETS, totalShares + VIRTUAL_SHARES);
}

// ---------------------------------------------------------------- UtilsLib

/// @dev True if exactly one of x and y is zero.
function exactlyOneZero(uint256 x, uint256 y) pure returns (bool z) {
    assembly {
        z := xor(iszero(x), iszero(y))
    }
}

function toUint128(uint256 x) pure returns (uint128) {
    require(x <= type(uint128).max, MAX_UINT128_EXCEEDED);
    return uint128(x);
}

/// @dev max(0, x - y).
function zeroFloorSub(uint256 x, uint256 y) pure returns (uint256 z) {
    assembly {
        z := mul(gt(x, y), sub(x, y))
    }
}

// ---------------------------------------------------------------- MarketParamsLib

/// @dev The length of the data hashed into a market id: 5 words.
uint256 constant MARKET_PARAMS_BYTES_LENGTH = 5 * 32;

/// @dev keccak256(abi.encode(marketParams)).
function marketId(MarketParams memory marketParams) pure returns (Id marketParamsId) {
    assembly ("memory-safe") {
        marketParamsId := keccak256(marketParams, MARKET_PARAMS_BYTES_LENGTH)
    }
}

// ---------------------------------------------------------------- SafeTransferLib

interface IERC20Internal {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @dev Accepts tokens that return nothing; a token's own revert reason is replaced by Morpho's string.
function safeTransfer(address token, address to, uint256 value) {
    require(token.code.length > 0, NO_CODE);

    (bool success, bytes memory returndata) = token.call(abi.encodeCall(IERC20Internal.transfer, (to, value)));
    require(success, TRANSFER_REVERTED);
    require(returndata.length == 0 || abi.decode(returndata, (bool)), TRANSFER_RETURNED_FALSE);
}

function safeTransferFrom(address token, address from, address to, uint256 value) {
    require(token.code.length > 0, NO_CODE);

    (bool success, bytes memory returndata) =
        token.call(abi.encodeCall(IERC20Internal.transferFrom, (from, to, value)));
    require(success, TRANSFER_FROM_REVERTED);
    require(returndata.length == 0 || abi.decode(returndata, (bool)), TRANSFER_FROM_RETURNED_FALSE);
}
