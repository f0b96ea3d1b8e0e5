// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadRayMath} from "./WadRayMath.sol";
import {TokenTransfer, IERC20Like} from "./TokenTransfer.sol";
import {AaveAToken} from "./AaveAToken.sol";
import {AaveVariableDebtToken} from "./AaveVariableDebtToken.sol";

/// @title AaveV3Pool
/// @notice Local stand-in for an Aave V3 Pool, following Aave V3.5 (aave-v3-origin): Aave's
/// ABI for the calls the engine makes (supply, withdraw, getReserveData,
/// getReserveNormalizedIncome, getReserveNormalizedVariableDebt, getVirtualUnderlyingBalance,
/// getConfiguration, setConfiguration), its index arithmetic, V3.5's rounding of scaled
/// amounts (minted down, burnt up, balances down; debt minted up, burnt down), V3.1's
/// virtual balance (what withdrawals and borrows can take; tokens sent straight to the aToken
/// do not count), the reserve configuration bitmap (active, frozen, paused, reserve factor,
/// supply cap, at Aave's bit positions) and the checks of ValidationLogic on it, the reserve
/// factor (suppliers earn the borrow interest less it; V3.5's ReserveLogic._accrueToTreasury
/// adds the treasury's share to accruedToTreasury on every state update, and it counts
/// towards the supply cap), a variable debt token per reserve holding the scaled debt, and
/// V3.4's argument-less custom errors. It raises only errors the real pool has: a withdrawal
/// or borrow beyond the virtual balance underflows it (Panic 0x11), as on Aave from V3.1.
/// Not modelled: collateral and health factor (borrow is unchecked), liquidations, borrow
/// caps, isolation and eMode, flash loans, mintToTreasury (accruedToTreasury only grows),
/// Aave's compounded borrow index (the stand-in's grows linearly), Aave's interest-rate
/// strategy contract (a base rate and one slope), the PoolConfigurator (its admin calls
/// setConfiguration directly, and initReserve deploys the reserve's variable debt token).
contract AaveV3Pool {
    using WadRayMath for uint256;

    uint256 internal constant SECONDS_PER_YEAR = 365 days;
    uint256 internal constant VARIABLE_RATE_MODE = 2;

    // Aave's ReserveConfiguration bit layout.
    uint256 internal constant DECIMALS_START_BIT = 48;
    uint256 internal constant ACTIVE_BIT = 56;
    uint256 internal constant FROZEN_BIT = 57;
    uint256 internal constant BORROWING_ENABLED_BIT = 58;
    uint256 internal constant PAUSED_BIT = 60;
    uint256 internal constant RESERVE_FACTOR_START_BIT = 64;
    uint256 internal constant RESERVE_FACTOR_MASK = (1 << 16) - 1;
    uint256 internal constant SUPPLY_CAP_START_BIT = 116;
    uint256 internal constant SUPPLY_CAP_MASK = (1 << 36) - 1;
    uint256 internal constant VIRTUAL_ACC_ACTIVE_BIT = 252;
    // PercentageMath: percentages with two decimals, 1e4 = 100.00%.
    uint256 internal constant PERCENTAGE_FACTOR = 1e4;
    uint256 internal constant HALF_PERCENTAGE_FACTOR = 0.5e4;

    struct ReserveConfigurationMap {
        uint256 data;
    }

    /// @dev Field order is Aave's ReserveDataLegacy, so getReserveData decodes the same.
    struct ReserveDataLegacy {
        ReserveConfigurationMap configuration;
        uint128 liquidityIndex;
        uint128 currentLiquidityRate;
        uint128 variableBorrowIndex;
        uint128 currentVariableBorrowRate;
        uint128 currentStableBorrowRate;
        uint40 lastUpdateTimestamp;
        uint16 id;
        address aTokenAddress;
        address stableDebtTokenAddress;
        address variableDebtTokenAddress;
        address interestRateStrategyAddress;
        uint128 accruedToTreasury;
        uint128 unbacked;
        uint128 isolationModeTotalDebt;
    }

    struct Reserve {
        uint256 configuration;
        uint128 liquidityIndex;
        uint128 currentLiquidityRate;
        uint128 variableBorrowIndex;
        uint128 currentVariableBorrowRate;
        uint40 lastUpdateTimestamp;
        uint16 id;
        address aToken;
        address variableDebtToken;
        uint128 virtualUnderlyingBalance;
        uint128 accruedToTreasury;
        uint256 baseVariableBorrowRate;
        uint256 variableRateSlope1;
    }

    address public immutable admin;
    mapping(address asset => Reserve) internal _reserves;
    address[] internal _reservesList;

    event ReserveInitialized(
        address indexed asset,
        address indexed aToken,
        address stableDebtToken,
        address variableDebtToken,
        address interestRateStrategyAddress
    );
    event ReserveDataUpdated(
        address indexed reserve,
        uint256 liquidityRate,
        uint256 stableBorrowRate,
        uint256 variableBorrowRate,
        uint256 liquidityIndex,
        uint256 variableBorrowIndex
    );
    event Supply(
        address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referralCode
    );
    event Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount);
    event Borrow(
        address indexed reserve,
        address user,
        address indexed onBehalfOf,
        uint256 amount,
        uint8 interestRateMode,
        uint256 borrowRate,
        uint16 indexed referralCode
    );
    event Repay(address indexed reserve, address indexed user, address indexed repayer, uint256 amount, bool useATokens);

    // Aave's errors (Errors.sol, V3.4 and later), and OpenZeppelin's SafeCast error.
    error CallerNotPoolConfigurator();
    error ZeroAddressNotValid();
    error ReserveAlreadyInitialized();
    error PoolAddressesDoNotMatch();
    error InvalidAmount();
    error ReserveInactive();
    error ReserveFrozen();
    error ReservePaused();
    error BorrowingNotEnabled();
    error NotEnoughAvailableUserBalance();
    error InvalidInterestRateModeSelected();
    error NoDebtOfSelectedType();
    error SupplyCapExceeded();
    error WithdrawToAToken();
    error SupplyToAToken();
    error SafeCastOverflowedUintDowncast(uint8 bits, uint256 value);

    constructor(address admin_) {
        if (admin_ == address(0)) revert ZeroAddressNotValid();
        admin = admin_;
    }

    modifier onlyConfigurator() {
        // The stand-in's admin plays Aave's PoolConfigurator.
        if (msg.sender != admin) revert CallerNotPoolConfigurator();
        _;
    }

    // ---------------------------------------------------------------- admin

    function initReserve(
        address asset,
        address aToken,
        uint256 baseVariableBorrowRateRay,
        uint256 variableRateSlope1Ray
    ) external onlyConfigurator {
        if (asset == address(0) || aToken == address(0)) revert ZeroAddressNotValid();
        Reserve storage r = _reserves[asset];
        if (r.aToken != address(0)) revert ReserveAlreadyInitialized();
        // Catch deployment wiring mistakes early instead of on the first supply.
        if (AaveAToken(aToken).POOL() != address(this) || AaveAToken(aToken).UNDERLYING_ASSET_ADDRESS() != asset) {
            revert PoolAddressesDoNotMatch();
        }

        uint256 decimals = IERC20Like(asset).decimals();
        r.configuration = (decimals << DECIMALS_START_BIT) | (1 << ACTIVE_BIT) | (1 << BORROWING_ENABLED_BIT)
            | (1 << VIRTUAL_ACC_ACTIVE_BIT);
        r.liquidityIndex = uint128(WadRayMath.RAY);
        r.variableBorrowIndex = uint128(WadRayMath.RAY);
        r.lastUpdateTimestamp = uint40(block.timestamp);
        r.id = uint16(_reservesList.length);
        r.aToken = aToken;
        r.variableDebtToken = address(new AaveVariableDebtToken(address(this), asset, uint8(decimals)));
        r.baseVariableBorrowRate = baseVariableBorrowRateRay;
        r.variableRateSlope1 = variableRateSlope1Ray;
        // With no debt the borrow rate is the base rate and suppliers earn nothing.
        r.currentVariableBorrowRate = uint128(baseVariableBorrowRateRay);
        _reservesList.push(asset);

        emit ReserveInitialized(asset, aToken, address(0), r.variableDebtToken, address(0));
    }

    /// @notice Aave's Pool.setConfiguration: the configurator sets the reserve's bitmap
    /// (freeze, pause, reserve factor, supply cap, ...). When the reserve factor changes the
    /// reserve is brought up to date first under the old factor and its rates are set again
    /// under the new one, as PoolConfigurator.setReserveFactor does (syncIndexesState,
    /// setConfiguration, syncRatesState).
    function setConfiguration(address asset, ReserveConfigurationMap calldata configuration)
        external
        onlyConfigurator
    {
        Reserve storage r = _reserve(asset);
        bool newFactor = _reserveFactor(configuration.data) != _reserveFactor(r.configuration);
        if (newFactor) _updateState(r);
        r.configuration = configuration.data;
        if (newFactor) _updateRates(asset, r);
    }

    // ---------------------------------------------------------------- user actions

    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) public {
        Reserve storage r = _reserve(asset);
        _updateState(r);

        // ValidationLogic.validateSupply, in Aave's order.
        uint256 scaled = amount.rayDivFloor(r.liquidityIndex);
        if (scaled == 0) revert InvalidAmount();
        uint256 config = r.configuration;
        if (!_flag(config, ACTIVE_BIT)) revert ReserveInactive();
        if (_flag(config, PAUSED_BIT)) revert ReservePaused();
        if (_flag(config, FROZEN_BIT)) revert ReserveFrozen();
        if (onBehalfOf == r.aToken) revert SupplyToAToken();
        uint256 cap = (config >> SUPPLY_CAP_START_BIT) & SUPPLY_CAP_MASK;
        if (cap != 0) {
            uint256 decimals = (config >> DECIMALS_START_BIT) & 0xFF;
            // What is owed to the treasury counts: V3.5 values the whole scaled sum, rounding down.
            uint256 supplied = AaveAToken(r.aToken).scaledTotalSupply() + scaled + r.accruedToTreasury;
            if (supplied.rayMulFloor(r.liquidityIndex) > cap * 10 ** decimals) revert SupplyCapExceeded();
        }

        r.virtualUnderlyingBalance += _toUint128(amount);
        _updateRates(asset, r);

        // As in Aave, the aToken contract holds the reserve's liquidity.
        TokenTransfer.safeTransferFrom(asset, msg.sender, r.aToken, amount);
        AaveAToken(r.aToken).mint(onBehalfOf, scaled);
        emit Supply(asset, msg.sender, onBehalfOf, amount, referralCode);
    }

    /// @notice Aave keeps deposit() as an alias of supply() for older integrations.
    function deposit(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external {
        supply(asset, amount, onBehalfOf, referralCode);
    }

    function withdraw(address asset, uint256 amount, address to) external returns (uint256) {
        Reserve storage r = _reserve(asset);
        if (to == r.aToken) revert WithdrawToAToken();
        _updateState(r);

        uint256 index = r.liquidityIndex;
        uint256 userScaled = AaveAToken(r.aToken).scaledBalanceOf(msg.sender);
        uint256 toWithdraw;
        uint256 scaled;
        if (amount == type(uint256).max) {
            // Everything: burn exactly the scaled balance, pay its value rounded down.
            scaled = userScaled;
            toWithdraw = userScaled.rayMulFloor(index);
        } else {
            scaled = amount.rayDivCeil(index);
            toWithdraw = amount;
        }

        // ValidationLogic.validateWithdraw, in Aave's order.
        if (scaled == 0) revert InvalidAmount();
        if (scaled > userScaled) revert NotEnoughAvailableUserBalance();
        uint256 config = r.configuration;
        if (!_flag(config, ACTIVE_BIT)) revert ReserveInactive();
        if (_flag(config, PAUSED_BIT)) revert ReservePaused();

        // Beyond the reserve's liquidity this underflows (Panic 0x11), as on Aave from V3.1.
        r.virtualUnderlyingBalance -= _toUint128(toWithdraw);
        _updateRates(asset, r);

        AaveAToken(r.aToken).burn(msg.sender, scaled);
        AaveAToken(r.aToken).transferUnderlyingTo(to, toWithdraw);
        emit Withdraw(asset, msg.sender, to, toWithdraw);
        return toWithdraw;
    }

    /// @notice A local stand-in for creating utilisation: there are NO collateral or
    /// health-factor checks, so tests can borrow out liquidity and make rates move.
    function borrow(
        address asset,
        uint256 amount,
        uint256 interestRateMode,
        uint16 referralCode,
        address onBehalfOf
    ) external {
        Reserve storage r = _reserve(asset);
        _updateState(r);

        // The parts of ValidationLogic.validateBorrow that do not need collateral.
        uint256 scaled = amount.rayDivCeil(r.variableBorrowIndex);
        if (scaled == 0) revert InvalidAmount();
        uint256 config = r.configuration;
        if (!_flag(config, ACTIVE_BIT)) revert ReserveInactive();
        if (_flag(config, PAUSED_BIT)) revert ReservePaused();
        if (_flag(config, FROZEN_BIT)) revert ReserveFrozen();
        if (!_flag(config, BORROWING_ENABLED_BIT)) revert BorrowingNotEnabled();
        if (interestRateMode != VARIABLE_RATE_MODE) revert InvalidInterestRateModeSelected();

        // The rates see the new debt, as Aave mints it before updating them.
        AaveVariableDebtToken(r.variableDebtToken).mint(onBehalfOf, scaled);
        // Beyond the reserve's liquidity this underflows (Panic 0x11), as on Aave.
        r.virtualUnderlyingBalance -= _toUint128(amount);
        _updateRates(asset, r);

        AaveAToken(r.aToken).transferUnderlyingTo(msg.sender, amount);
        emit Borrow(
            asset, msg.sender, onBehalfOf, amount, uint8(VARIABLE_RATE_MODE), r.currentVariableBorrowRate, referralCode
        );
    }

    function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf)
        external
        returns (uint256)
    {
        Reserve storage r = _reserve(asset);
        _updateState(r);

        if (amount == 0) revert InvalidAmount();
        if (interestRateMode != VARIABLE_RATE_MODE) revert InvalidInterestRateModeSelected();
        uint256 config = r.configuration;
        if (!_flag(config, ACTIVE_BIT)) revert ReserveInactive();
        if (_flag(config, PAUSED_BIT)) revert ReservePaused();
        uint256 userScaled = AaveVariableDebtToken(r.variableDebtToken).scaledBalanceOf(onBehalfOf);
        if (userScaled == 0) revert NoDebtOfSelectedType();

        // V3.5: debt rounds up, the scaled debt a repayment burns rounds down.
        uint256 debt = userScaled.rayMulCeil(r.variableBorrowIndex);
        uint256 payback = amount < debt ? amount : debt;
        uint256 scaled = payback == debt ? userScaled : payback.rayDivFloor(r.variableBorrowIndex);
        AaveVariableDebtToken(r.variableDebtToken).burn(onBehalfOf, scaled);
        r.virtualUnderlyingBalance += _toUint128(payback);
        _updateRates(asset, r);

        TokenTransfer.safeTransferFrom(asset, msg.sender, r.aToken, payback);
        emit Repay(asset, onBehalfOf, msg.sender, payback, false);
        return payback;
    }

    // ---------------------------------------------------------------- views

    function getReserveData(address asset) external view returns (ReserveDataLegacy memory data) {
        Reserve storage r = _reserves[asset];
        data.configuration = ReserveConfigurationMap(r.configuration);
        data.liquidityIndex = r.liquidityIndex;
        data.currentLiquidityRate = r.currentLiquidityRate;
        data.variableBorrowIndex = r.variableBorrowIndex;
        data.currentVariableBorrowRate = r.currentVariableBorrowRate;
        data.lastUpdateTimestamp = r.lastUpdateTimestamp;
        data.id = r.id;
        data.aTokenAddress = r.aToken;
        data.variableDebtTokenAddress = r.variableDebtToken;
        data.accruedToTreasury = r.accruedToTreasury;
        // No stable debt (removed in V3.2), strategy contract, unbacked or isolation mode.
    }

    function getConfiguration(address asset) external view returns (ReserveConfigurationMap memory) {
        return ReserveConfigurationMap(_reserves[asset].configuration);
    }

    /// @notice Liquidity index as of now, without writing (what aToken.balanceOf uses).
    function getReserveNormalizedIncome(address asset) public view returns (uint256) {
        Reserve storage r = _reserves[asset];
        if (r.lastUpdateTimestamp == block.timestamp) return r.liquidityIndex;
        return _linearInterest(r.currentLiquidityRate, r.lastUpdateTimestamp).rayMul(r.liquidityIndex);
    }

    function getReserveNormalizedVariableDebt(address asset) public view returns (uint256) {
        Reserve storage r = _reserves[asset];
        if (r.lastUpdateTimestamp == block.timestamp) return r.variableBorrowIndex;
        return _linearInterest(r.currentVariableBorrowRate, r.lastUpdateTimestamp).rayMul(r.variableBorrowIndex);
    }

    function getVirtualUnderlyingBalance(address asset) external view returns (uint128) {
        return _reserves[asset].virtualUnderlyingBalance;
    }

    function getReservesList() external view returns (address[] memory) {
        return _reservesList;
    }

    /// @notice Stand-in only (Aave exposes this via the variable debt token's balanceOf).
    function getUserVariableDebt(address asset, address user) external view returns (uint256) {
        return AaveVariableDebtToken(_reserves[asset].variableDebtToken).balanceOf(user);
    }

    /// @notice Stand-in only: total variable debt of the reserve as of now.
    function getTotalVariableDebt(address asset) external view returns (uint256) {
        return AaveVariableDebtToken(_reserves[asset].variableDebtToken).totalSupply();
    }

    // ---------------------------------------------------------------- internals

    /// @dev An asset that is not listed has an empty configuration: not active.
    function _reserve(address asset) private view returns (Reserve storage r) {
        r = _reserves[asset];
        if (r.aToken == address(0)) revert ReserveInactive();
    }

    function _flag(uint256 configuration, uint256 bit) private pure returns (bool) {
        return (configuration >> bit) & 1 == 1;
    }

    /// @dev OpenZeppelin's SafeCast.toUint128, which Aave uses on virtual balance updates.
    function _toUint128(uint256 value) private pure returns (uint128) {
        if (value > type(uint128).max) revert SafeCastOverflowedUintDowncast(128, value);
        return uint128(value);
    }

    /// @dev Aave's MathUtils.calculateLinearInterest: RAY + rate * dt / year.
    function _linearInterest(uint256 rate, uint40 lastUpdate) private view returns (uint256) {
        uint256 result = rate * (block.timestamp - uint256(lastUpdate));
        unchecked {
            result = result / SECONDS_PER_YEAR;
        }
        return WadRayMath.RAY + result;
    }

    function _scaledTotalDebt(Reserve storage r) private view returns (uint256) {
        return AaveVariableDebtToken(r.variableDebtToken).scaledTotalSupply();
    }

    function _reserveFactor(uint256 configuration) private pure returns (uint256) {
        return (configuration >> RESERVE_FACTOR_START_BIT) & RESERVE_FACTOR_MASK;
    }

    /// @dev Aave's PercentageMath.percentMul: rounds half up.
    function _percentMul(uint256 value, uint256 percentage) private pure returns (uint256) {
        return (value * percentage + HALF_PERCENTAGE_FACTOR) / PERCENTAGE_FACTOR;
    }

    /// @dev ReserveLogic.updateState: brings both indexes up to now using the rates set at
    /// the last update (_updateIndexes), then adds the treasury's share of the debt's growth
    /// to accruedToTreasury (_accrueToTreasury), as V3.5 does and rounds.
    function _updateState(Reserve storage r) private {
        if (r.lastUpdateTimestamp == block.timestamp) return;
        uint256 scaledDebt = _scaledTotalDebt(r);
        uint256 currVariableBorrowIndex = r.variableBorrowIndex;
        if (r.currentLiquidityRate != 0) {
            r.liquidityIndex =
                uint128(_linearInterest(r.currentLiquidityRate, r.lastUpdateTimestamp).rayMul(r.liquidityIndex));
        }
        if (scaledDebt != 0) {
            // Aave compounds the borrow index; linear is close enough for a stand-in: the
            // borrowers' interest is then what the suppliers earn plus the treasury's share.
            r.variableBorrowIndex = uint128(
                _linearInterest(r.currentVariableBorrowRate, r.lastUpdateTimestamp).rayMul(currVariableBorrowIndex)
            );
        }

        uint256 reserveFactor = _reserveFactor(r.configuration);
        if (reserveFactor != 0) {
            // Rounded down, to undermint to the treasury (V3.5).
            uint256 totalDebtAccrued = scaledDebt.rayMulFloor(r.variableBorrowIndex - currVariableBorrowIndex);
            uint256 amountToMint = _percentMul(totalDebtAccrued, reserveFactor);
            if (amountToMint != 0) {
                // getATokenMintScaledAmount at the new liquidity index: rayDivFloor.
                r.accruedToTreasury += _toUint128(amountToMint.rayDivFloor(r.liquidityIndex));
            }
        }
        r.lastUpdateTimestamp = uint40(block.timestamp);
    }

    /// @dev Rates from utilisation after the action: U = debt / (available + debt),
    /// borrowRate = base + slope1 * U, liquidityRate = borrowRate * U * (1 - reserve factor),
    /// as DefaultReserveInterestRateStrategyV2 nets the reserve factor out.
    function _updateRates(address asset, Reserve storage r) private {
        uint256 totalDebt = _scaledTotalDebt(r).rayMul(r.variableBorrowIndex);
        uint256 available = r.virtualUnderlyingBalance;
        uint256 usage = 0;
        if (totalDebt != 0) usage = totalDebt.rayDiv(available + totalDebt);

        uint256 borrowRate = r.baseVariableBorrowRate + r.variableRateSlope1.rayMul(usage);
        uint256 liquidityRate =
            _percentMul(borrowRate.rayMul(usage), PERCENTAGE_FACTOR - _reserveFactor(r.configuration));
        r.currentVariableBorrowRate = uint128(borrowRate);
        r.currentLiquidityRate = uint128(liquidityRate);

        emit ReserveDataUpdated(asset, liquidityRate, 0, borrowRate, r.liquidityIndex, r.variableBorrowIndex);
    }
}
