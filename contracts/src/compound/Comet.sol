// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev The base token as Comet's IERC20NonStandard sees it: transfer and transferFrom declare no
/// return value, so tokens that return nothing work; the return data is checked by hand.
interface ICometBaseToken {
    function balanceOf(address account) external view returns (uint256);
    function decimals() external view returns (uint8);
    function transfer(address to, uint256 amount) external;
    function transferFrom(address from, address to, uint256 amount) external;
}

/// @title Comet
/// @notice Local stand-in for a Compound III (Comet) market with one base asset. It keeps Comet's
/// ABI for the base-asset calls (supply/supplyTo/supplyFrom, withdraw/withdrawTo/withdrawFrom,
/// transfer/transferFrom, allow/approve, balanceOf, borrowBalanceOf, totalSupply, totalBorrow,
/// getUtilization, getSupplyRate, getBorrowRate, pause and the is*Paused flags, accrueAccount,
/// baseTrackingAccrued, totalsBasic, userBasic, getReserves, withdrawReserves), its errors
/// (Paused(), Unauthorized(), NotCollateralized(), BorrowTooSmall(), InsufficientReserves(),
/// BadAmount(), NoSelfTransfer(), ...), its per-second kinked rate model with the real parameter
/// names, and its arithmetic: principal and present value through baseSupplyIndex and
/// baseBorrowIndex at BASE_INDEX_SCALE 1e15 (supply rounded down, borrow principal rounded up),
/// indices grown by rate * timeElapsed in accrueInternal, reward tracking indices and
/// baseTrackingAccrued exactly as Comet computes them. So the engine's Compound adapter runs
/// unchanged against it and sees the same units, rounding and reverts.
/// Differs from Comet in:
/// - No collateral assets: no supplyCollateral/withdrawCollateral/transferAsset, no price feeds,
///   no liquidations (absorb, buyCollateral, quoteCollateral), no extension delegate or proxy.
///   supply/withdraw/transfer of any asset other than the base token revert with BadAsset().
/// - Collateral is simplified to a flag: the governor marks an account `borrowCollateralized`,
///   which stands in for posting enough collateral. A marked account may borrow (a withdraw
///   beyond its supply, as in Comet) as much as the base token the contract holds; an unmarked
///   account that would go negative reverts NotCollateralized(), as a Comet account without
///   collateral does. baseBorrowMin is enforced (BorrowTooSmall()).
/// - Deployed directly with a reduced Configuration (no price feed, extension delegate, store
///   front factor or asset configs); storage is initialised in the constructor (no
///   initializeStorage); name and
///   symbol are plain strings; no allowBySig.
/// As in Comet, withdrawing more base than the contract holds fails in the token's transfer,
/// with the token's own error.
contract Comet {
    /// @dev Field order and types are CometStorage's, so totalsBasic() decodes the same.
    struct TotalsBasic {
        uint64 baseSupplyIndex;
        uint64 baseBorrowIndex;
        uint64 trackingSupplyIndex;
        uint64 trackingBorrowIndex;
        uint104 totalSupplyBase;
        uint104 totalBorrowBase;
        uint40 lastAccrualTime;
        uint8 pauseFlags;
    }

    /// @dev CometStorage's UserBasic, so userBasic(account) decodes the same.
    struct UserBasic {
        int104 principal;
        uint64 baseTrackingIndex;
        uint64 baseTrackingAccrued;
        uint16 assetsIn;
        uint8 _reserved;
    }

    /// @dev CometConfiguration's Configuration without the price feed, extension delegate,
    /// store front price factor and collateral asset configs.
    struct Configuration {
        address governor;
        address pauseGuardian;
        address baseToken;
        uint64 supplyKink;
        uint64 supplyPerYearInterestRateSlopeLow;
        uint64 supplyPerYearInterestRateSlopeHigh;
        uint64 supplyPerYearInterestRateBase;
        uint64 borrowKink;
        uint64 borrowPerYearInterestRateSlopeLow;
        uint64 borrowPerYearInterestRateSlopeHigh;
        uint64 borrowPerYearInterestRateBase;
        uint64 trackingIndexScale;
        uint64 baseTrackingSupplySpeed;
        uint64 baseTrackingBorrowSpeed;
        uint104 baseMinForRewards;
        uint104 baseBorrowMin;
        uint104 targetReserves;
    }

    event Supply(address indexed from, address indexed dst, uint256 amount);
    event Transfer(address indexed from, address indexed to, uint256 amount);
    event Withdraw(address indexed src, address indexed to, uint256 amount);
    event PauseAction(bool supplyPaused, bool transferPaused, bool withdrawPaused, bool absorbPaused, bool buyPaused);
    event WithdrawReserves(address indexed to, uint256 amount);
    event Approval(address indexed owner, address indexed spender, uint256 amount);
    /// @notice Stand-in only: the governor marked an account as (not) collateralized for borrowing.
    event BorrowCollateralizedSet(address indexed account, bool collateralized);

    error BadAmount();
    error BadAsset();
    error BadDecimals();
    error BadMinimum();
    error BorrowTooSmall();
    error InsufficientReserves();
    error NoSelfTransfer();
    error NotCollateralized();
    error Paused();
    error ReentrantCallBlocked();
    error TimestampTooLarge();
    error TransferInFailed();
    error TransferOutFailed();
    error Unauthorized();
    // CometMath
    error InvalidUInt64();
    error InvalidUInt104();
    error InvalidInt104();
    error InvalidInt256();
    error NegativeNumber();

    // CometCore constants
    uint8 internal constant MAX_BASE_DECIMALS = 18;
    uint8 internal constant PAUSE_SUPPLY_OFFSET = 0;
    uint8 internal constant PAUSE_TRANSFER_OFFSET = 1;
    uint8 internal constant PAUSE_WITHDRAW_OFFSET = 2;
    uint8 internal constant PAUSE_ABSORB_OFFSET = 3;
    uint8 internal constant PAUSE_BUY_OFFSET = 4;
    uint64 internal constant SECONDS_PER_YEAR = 31_536_000;
    uint64 internal constant BASE_ACCRUAL_SCALE = 1e6;
    uint64 internal constant BASE_INDEX_SCALE = 1e15;
    uint64 internal constant FACTOR_SCALE = 1e18;
    bytes32 internal constant REENTRANCY_GUARD_FLAG_SLOT = bytes32(keccak256("comet.reentrancy.guard"));
    uint256 internal constant REENTRANCY_GUARD_NOT_ENTERED = 0;
    uint256 internal constant REENTRANCY_GUARD_ENTERED = 1;

    address public immutable governor;
    address public immutable pauseGuardian;
    address public immutable baseToken;

    uint256 public immutable supplyKink;
    uint256 public immutable supplyPerSecondInterestRateSlopeLow;
    uint256 public immutable supplyPerSecondInterestRateSlopeHigh;
    uint256 public immutable supplyPerSecondInterestRateBase;
    uint256 public immutable borrowKink;
    uint256 public immutable borrowPerSecondInterestRateSlopeLow;
    uint256 public immutable borrowPerSecondInterestRateSlopeHigh;
    uint256 public immutable borrowPerSecondInterestRateBase;

    uint256 public immutable baseScale;
    uint256 public immutable trackingIndexScale;
    uint256 public immutable baseTrackingSupplySpeed;
    uint256 public immutable baseTrackingBorrowSpeed;
    uint256 public immutable baseMinForRewards;
    uint256 public immutable baseBorrowMin;
    uint256 public immutable targetReserves;
    uint8 public immutable decimals;
    /// @notice No collateral assets are configured on the stand-in.
    uint8 public constant numAssets = 0;
    uint256 internal immutable accrualDescaleFactor;

    string public name;
    string public symbol;

    // CometStorage's aggregate slot layout.
    uint64 internal baseSupplyIndex;
    uint64 internal baseBorrowIndex;
    uint64 internal trackingSupplyIndex;
    uint64 internal trackingBorrowIndex;
    uint104 internal totalSupplyBase;
    uint104 internal totalBorrowBase;
    uint40 internal lastAccrualTime;
    uint8 internal pauseFlags;

    mapping(address owner => mapping(address manager => bool)) public isAllowed;
    mapping(address account => UserBasic) public userBasic;
    /// @notice Stand-in only: accounts the governor lets borrow (see the header).
    mapping(address account => bool) public borrowCollateralized;

    constructor(Configuration memory config, string memory name_, string memory symbol_) {
        uint8 decimals_ = ICometBaseToken(config.baseToken).decimals();
        if (decimals_ > MAX_BASE_DECIMALS) revert BadDecimals();
        if (config.baseMinForRewards == 0) revert BadMinimum();

        governor = config.governor;
        pauseGuardian = config.pauseGuardian;
        baseToken = config.baseToken;

        decimals = decimals_;
        baseScale = uint64(10 ** decimals_);
        trackingIndexScale = config.trackingIndexScale;
        if (10 ** decimals_ < BASE_ACCRUAL_SCALE) revert BadDecimals();
        accrualDescaleFactor = 10 ** decimals_ / BASE_ACCRUAL_SCALE;

        baseMinForRewards = config.baseMinForRewards;
        baseTrackingSupplySpeed = config.baseTrackingSupplySpeed;
        baseTrackingBorrowSpeed = config.baseTrackingBorrowSpeed;
        baseBorrowMin = config.baseBorrowMin;
        targetReserves = config.targetReserves;

        // As Comet: per-year configuration, per-second storage (truncated).
        supplyKink = config.supplyKink;
        supplyPerSecondInterestRateSlopeLow = config.supplyPerYearInterestRateSlopeLow / SECONDS_PER_YEAR;
        supplyPerSecondInterestRateSlopeHigh = config.supplyPerYearInterestRateSlopeHigh / SECONDS_PER_YEAR;
        supplyPerSecondInterestRateBase = config.supplyPerYearInterestRateBase / SECONDS_PER_YEAR;
        borrowKink = config.borrowKink;
        borrowPerSecondInterestRateSlopeLow = config.borrowPerYearInterestRateSlopeLow / SECONDS_PER_YEAR;
        borrowPerSecondInterestRateSlopeHigh = config.borrowPerYearInterestRateSlopeHigh / SECONDS_PER_YEAR;
        borrowPerSecondInterestRateBase = config.borrowPerYearInterestRateBase / SECONDS_PER_YEAR;

        name = name_;
        symbol = symbol_;

        // Comet's initializeStorage, done here since there is no proxy.
        lastAccrualTime = getNowInternal();
        baseSupplyIndex = BASE_INDEX_SCALE;
        baseBorrowIndex = BASE_INDEX_SCALE;
    }

    modifier nonReentrant() {
        bytes32 slot = REENTRANCY_GUARD_FLAG_SLOT;
        uint256 status;
        assembly ("memory-safe") {
            status := sload(slot)
        }
        if (status == REENTRANCY_GUARD_ENTERED) revert ReentrantCallBlocked();
        assembly ("memory-safe") {
            sstore(slot, REENTRANCY_GUARD_ENTERED)
        }
        _;
        assembly ("memory-safe") {
            sstore(slot, REENTRANCY_GUARD_NOT_ENTERED)
        }
    }

    // ---------------------------------------------------------------- constants (CometExt)

    function baseAccrualScale() external pure returns (uint64) {
        return BASE_ACCRUAL_SCALE;
    }

    function baseIndexScale() external pure returns (uint64) {
        return BASE_INDEX_SCALE;
    }

    function factorScale() external pure returns (uint64) {
        return FACTOR_SCALE;
    }

    function totalsBasic() external view returns (TotalsBasic memory) {
        return TotalsBasic({
            baseSupplyIndex: baseSupplyIndex,
            baseBorrowIndex: baseBorrowIndex,
            trackingSupplyIndex: trackingSupplyIndex,
            trackingBorrowIndex: trackingBorrowIndex,
            totalSupplyBase: totalSupplyBase,
            totalBorrowBase: totalBorrowBase,
            lastAccrualTime: lastAccrualTime,
            pauseFlags: pauseFlags
        });
    }

    /// @notice The total accrued base rewards of an account, scaled by BASE_ACCRUAL_SCALE.
    function baseTrackingAccrued(address account) external view returns (uint64) {
        return userBasic[account].baseTrackingAccrued;
    }

    // ---------------------------------------------------------------- interest

    function getNowInternal() internal view returns (uint40) {
        if (block.timestamp >= 2 ** 40) revert TimestampTooLarge();
        return uint40(block.timestamp);
    }

    function accruedInterestIndices(uint256 timeElapsed) internal view returns (uint64, uint64) {
        uint64 baseSupplyIndex_ = baseSupplyIndex;
        uint64 baseBorrowIndex_ = baseBorrowIndex;
        if (timeElapsed > 0) {
            uint256 utilization = getUtilization();
            uint256 supplyRate = getSupplyRate(utilization);
            uint256 borrowRate = getBorrowRate(utilization);
            baseSupplyIndex_ += safe64(mulFactor(baseSupplyIndex_, supplyRate * timeElapsed));
            baseBorrowIndex_ += safe64(mulFactor(baseBorrowIndex_, borrowRate * timeElapsed));
        }
        return (baseSupplyIndex_, baseBorrowIndex_);
    }

    function accrueInternal() internal {
        uint40 now_ = getNowInternal();
        uint256 timeElapsed = uint256(now_ - lastAccrualTime);
        if (timeElapsed > 0) {
            (baseSupplyIndex, baseBorrowIndex) = accruedInterestIndices(timeElapsed);
            if (totalSupplyBase >= baseMinForRewards) {
                trackingSupplyIndex += safe64(divBaseWei(baseTrackingSupplySpeed * timeElapsed, totalSupplyBase));
            }
            if (totalBorrowBase >= baseMinForRewards) {
                trackingBorrowIndex += safe64(divBaseWei(baseTrackingBorrowSpeed * timeElapsed, totalBorrowBase));
            }
            lastAccrualTime = now_;
        }
    }

    /// @notice Accrue interest and rewards for an account.
    function accrueAccount(address account) external {
        accrueInternal();
        UserBasic memory basic = userBasic[account];
        updateBasePrincipal(account, basic, basic.principal);
    }

    /// @dev Does not accrue interest first.
    function getSupplyRate(uint256 utilization) public view returns (uint64) {
        if (utilization <= supplyKink) {
            return safe64(supplyPerSecondInterestRateBase + mulFactor(supplyPerSecondInterestRateSlopeLow, utilization));
        } else {
            return safe64(
                supplyPerSecondInterestRateBase + mulFactor(supplyPerSecondInterestRateSlopeLow, supplyKink)
                    + mulFactor(supplyPerSecondInterestRateSlopeHigh, (utilization - supplyKink))
            );
        }
    }

    /// @dev Does not accrue interest first.
    function getBorrowRate(uint256 utilization) public view returns (uint64) {
        if (utilization <= borrowKink) {
            return safe64(borrowPerSecondInterestRateBase + mulFactor(borrowPerSecondInterestRateSlopeLow, utilization));
        } else {
            return safe64(
                borrowPerSecondInterestRateBase + mulFactor(borrowPerSecondInterestRateSlopeLow, borrowKink)
                    + mulFactor(borrowPerSecondInterestRateSlopeHigh, (utilization - borrowKink))
            );
        }
    }

    /// @dev Does not accrue interest first.
    function getUtilization() public view returns (uint256) {
        uint256 totalSupply_ = presentValueSupply(baseSupplyIndex, totalSupplyBase);
        uint256 totalBorrow_ = presentValueBorrow(baseBorrowIndex, totalBorrowBase);
        if (totalSupply_ == 0) {
            return 0;
        } else {
            return totalBorrow_ * FACTOR_SCALE / totalSupply_;
        }
    }

    function getReserves() public view returns (int256) {
        (uint64 baseSupplyIndex_, uint64 baseBorrowIndex_) = accruedInterestIndices(getNowInternal() - lastAccrualTime);
        uint256 balance = ICometBaseToken(baseToken).balanceOf(address(this));
        uint256 totalSupply_ = presentValueSupply(baseSupplyIndex_, totalSupplyBase);
        uint256 totalBorrow_ = presentValueBorrow(baseBorrowIndex_, totalBorrowBase);
        return signed256(balance) - signed256(totalSupply_) + signed256(totalBorrow_);
    }

    /// @notice Stand-in for Comet's collateral check (see the header).
    function isBorrowCollateralized(address account) public view returns (bool) {
        if (userBasic[account].principal >= 0) return true;
        return borrowCollateralized[account];
    }

    // ---------------------------------------------------------------- balances

    function totalSupply() external view returns (uint256) {
        (uint64 baseSupplyIndex_,) = accruedInterestIndices(getNowInternal() - lastAccrualTime);
        return presentValueSupply(baseSupplyIndex_, totalSupplyBase);
    }

    function totalBorrow() external view returns (uint256) {
        (, uint64 baseBorrowIndex_) = accruedInterestIndices(getNowInternal() - lastAccrualTime);
        return presentValueBorrow(baseBorrowIndex_, totalBorrowBase);
    }

    /// @notice The present base balance of an account if positive, else zero.
    function balanceOf(address account) public view returns (uint256) {
        (uint64 baseSupplyIndex_,) = accruedInterestIndices(getNowInternal() - lastAccrualTime);
        int104 principal = userBasic[account].principal;
        return principal > 0 ? presentValueSupply(baseSupplyIndex_, unsigned104(principal)) : 0;
    }

    /// @notice The present base debt of an account if negative, else zero.
    function borrowBalanceOf(address account) public view returns (uint256) {
        (, uint64 baseBorrowIndex_) = accruedInterestIndices(getNowInternal() - lastAccrualTime);
        int104 principal = userBasic[account].principal;
        return principal < 0 ? presentValueBorrow(baseBorrowIndex_, unsigned104(-principal)) : 0;
    }

    // ---------------------------------------------------------------- pause

    function pause(bool supplyPaused, bool transferPaused, bool withdrawPaused, bool absorbPaused, bool buyPaused)
        external
    {
        if (msg.sender != governor && msg.sender != pauseGuardian) revert Unauthorized();

        pauseFlags = uint8(0) | (toUInt8(supplyPaused) << PAUSE_SUPPLY_OFFSET)
            | (toUInt8(transferPaused) << PAUSE_TRANSFER_OFFSET) | (toUInt8(withdrawPaused) << PAUSE_WITHDRAW_OFFSET)
            | (toUInt8(absorbPaused) << PAUSE_ABSORB_OFFSET) | (toUInt8(buyPaused) << PAUSE_BUY_OFFSET);

        emit PauseAction(supplyPaused, transferPaused, withdrawPaused, absorbPaused, buyPaused);
    }

    function isSupplyPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_SUPPLY_OFFSET));
    }

    function isTransferPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_TRANSFER_OFFSET));
    }

    function isWithdrawPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_WITHDRAW_OFFSET));
    }

    function isAbsorbPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_ABSORB_OFFSET));
    }

    function isBuyPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_BUY_OFFSET));
    }

    // ---------------------------------------------------------------- permissions (CometExt)

    function hasPermission(address owner, address manager) public view returns (bool) {
        return owner == manager || isAllowed[owner][manager];
    }

    function allow(address manager, bool isAllowed_) external {
        allowInternal(msg.sender, manager, isAllowed_);
    }

    /// @dev Comet's binary approval: uint256 max allows, zero disallows, anything else is BadAmount().
    function approve(address spender, uint256 amount) external returns (bool) {
        if (amount == type(uint256).max) {
            allowInternal(msg.sender, spender, true);
        } else if (amount == 0) {
            allowInternal(msg.sender, spender, false);
        } else {
            revert BadAmount();
        }
        return true;
    }

    function allowance(address owner, address spender) external view returns (uint256) {
        return hasPermission(owner, spender) ? type(uint256).max : 0;
    }

    function allowInternal(address owner, address manager, bool isAllowed_) internal {
        isAllowed[owner][manager] = isAllowed_;
        emit Approval(owner, manager, isAllowed_ ? type(uint256).max : 0);
    }

    // ---------------------------------------------------------------- supply

    function supply(address asset, uint256 amount) external {
        return supplyInternal(msg.sender, msg.sender, msg.sender, asset, amount);
    }

    function supplyTo(address dst, address asset, uint256 amount) external {
        return supplyInternal(msg.sender, msg.sender, dst, asset, amount);
    }

    function supplyFrom(address from, address dst, address asset, uint256 amount) external {
        return supplyInternal(msg.sender, from, dst, asset, amount);
    }

    /// @dev An `amount` of uint256 max repays all of `dst`'s accrued borrow balance.
    function supplyInternal(address operator, address from, address dst, address asset, uint256 amount)
        internal
        nonReentrant
    {
        if (isSupplyPaused()) revert Paused();
        if (!hasPermission(from, operator)) revert Unauthorized();
        if (asset != baseToken) revert BadAsset();

        if (amount == type(uint256).max) {
            amount = borrowBalanceOf(dst);
        }
        return supplyBase(from, dst, amount);
    }

    function supplyBase(address from, address dst, uint256 amount) internal {
        amount = doTransferIn(baseToken, from, amount);

        accrueInternal();

        UserBasic memory dstUser = userBasic[dst];
        int104 dstPrincipal = dstUser.principal;
        int256 dstBalance = presentValue(dstPrincipal) + signed256(amount);
        int104 dstPrincipalNew = principalValue(dstBalance);

        (uint104 repayAmount, uint104 supplyAmount) = repayAndSupplyAmount(dstPrincipal, dstPrincipalNew);

        totalSupplyBase += supplyAmount;
        totalBorrowBase -= repayAmount;

        updateBasePrincipal(dst, dstUser, dstPrincipalNew);

        emit Supply(from, dst, amount);

        if (supplyAmount > 0) {
            emit Transfer(address(0), dst, presentValueSupply(baseSupplyIndex, supplyAmount));
        }
    }

    // ---------------------------------------------------------------- transfer

    function transfer(address dst, uint256 amount) external returns (bool) {
        transferInternal(msg.sender, msg.sender, dst, baseToken, amount);
        return true;
    }

    function transferFrom(address src, address dst, uint256 amount) external returns (bool) {
        transferInternal(msg.sender, src, dst, baseToken, amount);
        return true;
    }

    /// @dev An `amount` of uint256 max transfers all of `src`'s accrued base balance.
    function transferInternal(address operator, address src, address dst, address asset, uint256 amount)
        internal
        nonReentrant
    {
        if (isTransferPaused()) revert Paused();
        if (!hasPermission(src, operator)) revert Unauthorized();
        if (src == dst) revert NoSelfTransfer();
        if (asset != baseToken) revert BadAsset();

        if (amount == type(uint256).max) {
            amount = balanceOf(src);
        }
        return transferBase(src, dst, amount);
    }

    function transferBase(address src, address dst, uint256 amount) internal {
        accrueInternal();

        UserBasic memory srcUser = userBasic[src];
        UserBasic memory dstUser = userBasic[dst];

        int104 srcPrincipal = srcUser.principal;
        int104 dstPrincipal = dstUser.principal;
        int256 srcBalance = presentValue(srcPrincipal) - signed256(amount);
        int256 dstBalance = presentValue(dstPrincipal) + signed256(amount);
        int104 srcPrincipalNew = principalValue(srcBalance);
        int104 dstPrincipalNew = principalValue(dstBalance);

        (uint104 withdrawAmount, uint104 borrowAmount) = withdrawAndBorrowAmount(srcPrincipal, srcPrincipalNew);
        (uint104 repayAmount, uint104 supplyAmount) = repayAndSupplyAmount(dstPrincipal, dstPrincipalNew);

        totalSupplyBase = totalSupplyBase + supplyAmount - withdrawAmount;
        totalBorrowBase = totalBorrowBase + borrowAmount - repayAmount;

        updateBasePrincipal(src, srcUser, srcPrincipalNew);
        updateBasePrincipal(dst, dstUser, dstPrincipalNew);

        if (srcBalance < 0) {
            if (uint256(-srcBalance) < baseBorrowMin) revert BorrowTooSmall();
            if (!isBorrowCollateralized(src)) revert NotCollateralized();
        }

        if (withdrawAmount > 0) {
            emit Transfer(src, address(0), presentValueSupply(baseSupplyIndex, withdrawAmount));
        }

        if (supplyAmount > 0) {
            emit Transfer(address(0), dst, presentValueSupply(baseSupplyIndex, supplyAmount));
        }
    }

    // ---------------------------------------------------------------- withdraw

    function withdraw(address asset, uint256 amount) external {
        return withdrawInternal(msg.sender, msg.sender, msg.sender, asset, amount);
    }

    function withdrawTo(address to, address asset, uint256 amount) external {
        return withdrawInternal(msg.sender, msg.sender, to, asset, amount);
    }

    function withdrawFrom(address src, address to, address asset, uint256 amount) external {
        return withdrawInternal(msg.sender, src, to, asset, amount);
    }

    /// @dev An `amount` of uint256 max withdraws all of `src`'s accrued base balance.
    function withdrawInternal(address operator, address src, address to, address asset, uint256 amount)
        internal
        nonReentrant
    {
        if (isWithdrawPaused()) revert Paused();
        if (!hasPermission(src, operator)) revert Unauthorized();
        if (asset != baseToken) revert BadAsset();

        if (amount == type(uint256).max) {
            amount = balanceOf(src);
        }
        return withdrawBase(src, to, amount);
    }

    /// @dev Withdraws base from src to `to`, borrowing beyond src's balance if allowed.
    function withdrawBase(address src, address to, uint256 amount) internal {
        accrueInternal();

        UserBasic memory srcUser = userBasic[src];
        int104 srcPrincipal = srcUser.principal;
        int256 srcBalance = presentValue(srcPrincipal) - signed256(amount);
        int104 srcPrincipalNew = principalValue(srcBalance);

        (uint104 withdrawAmount, uint104 borrowAmount) = withdrawAndBorrowAmount(srcPrincipal, srcPrincipalNew);

        totalSupplyBase -= withdrawAmount;
        totalBorrowBase += borrowAmount;

        updateBasePrincipal(src, srcUser, srcPrincipalNew);

        if (srcBalance < 0) {
            if (uint256(-srcBalance) < baseBorrowMin) revert BorrowTooSmall();
            if (!isBorrowCollateralized(src)) revert NotCollateralized();
        }

        doTransferOut(baseToken, to, amount);

        emit Withdraw(src, to, amount);

        if (withdrawAmount > 0) {
            emit Transfer(src, address(0), presentValueSupply(baseSupplyIndex, withdrawAmount));
        }
    }

    // ---------------------------------------------------------------- governance

    function withdrawReserves(address to, uint256 amount) external {
        if (msg.sender != governor) revert Unauthorized();

        int256 reserves = getReserves();
        if (reserves < 0 || amount > unsigned256(reserves)) revert InsufficientReserves();

        doTransferOut(baseToken, to, amount);

        emit WithdrawReserves(to, amount);
    }

    /// @notice Stand-in only: mark an account as collateralized for borrowing (see the header).
    function setBorrowCollateralized(address account, bool collateralized) external {
        if (msg.sender != governor) revert Unauthorized();
        borrowCollateralized[account] = collateralized;
        emit BorrowCollateralizedSet(account, collateralized);
    }

    // ---------------------------------------------------------------- principal accounting (CometCore)

    function presentValue(int104 principalValue_) internal view returns (int256) {
        if (principalValue_ >= 0) {
            return signed256(presentValueSupply(baseSupplyIndex, uint104(principalValue_)));
        } else {
            return -signed256(presentValueBorrow(baseBorrowIndex, uint104(-principalValue_)));
        }
    }

    function presentValueSupply(uint64 baseSupplyIndex_, uint104 principalValue_) internal pure returns (uint256) {
        return uint256(principalValue_) * baseSupplyIndex_ / BASE_INDEX_SCALE;
    }

    function presentValueBorrow(uint64 baseBorrowIndex_, uint104 principalValue_) internal pure returns (uint256) {
        return uint256(principalValue_) * baseBorrowIndex_ / BASE_INDEX_SCALE;
    }

    function principalValue(int256 presentValue_) internal view returns (int104) {
        if (presentValue_ >= 0) {
            return signed104(principalValueSupply(baseSupplyIndex, uint256(presentValue_)));
        } else {
            return -signed104(principalValueBorrow(baseBorrowIndex, uint256(-presentValue_)));
        }
    }

    /// @dev Rounded down.
    function principalValueSupply(uint64 baseSupplyIndex_, uint256 presentValue_) internal pure returns (uint104) {
        return safe104((presentValue_ * BASE_INDEX_SCALE) / baseSupplyIndex_);
    }

    /// @dev Rounded up.
    function principalValueBorrow(uint64 baseBorrowIndex_, uint256 presentValue_) internal pure returns (uint104) {
        return safe104((presentValue_ * BASE_INDEX_SCALE + baseBorrowIndex_ - 1) / baseBorrowIndex_);
    }

    function repayAndSupplyAmount(int104 oldPrincipal, int104 newPrincipal) internal pure returns (uint104, uint104) {
        if (newPrincipal < oldPrincipal) return (0, 0);

        if (newPrincipal <= 0) {
            return (uint104(newPrincipal - oldPrincipal), 0);
        } else if (oldPrincipal >= 0) {
            return (0, uint104(newPrincipal - oldPrincipal));
        } else {
            return (uint104(-oldPrincipal), uint104(newPrincipal));
        }
    }

    function withdrawAndBorrowAmount(int104 oldPrincipal, int104 newPrincipal)
        internal
        pure
        returns (uint104, uint104)
    {
        if (newPrincipal > oldPrincipal) return (0, 0);

        if (newPrincipal >= 0) {
            return (uint104(oldPrincipal - newPrincipal), 0);
        } else if (oldPrincipal <= 0) {
            return (0, uint104(oldPrincipal - newPrincipal));
        } else {
            return (uint104(oldPrincipal), uint104(-newPrincipal));
        }
    }

    function updateBasePrincipal(address account, UserBasic memory basic, int104 principalNew) internal {
        int104 principal = basic.principal;
        basic.principal = principalNew;

        if (principal >= 0) {
            uint256 indexDelta = uint256(trackingSupplyIndex - basic.baseTrackingIndex);
            basic.baseTrackingAccrued +=
                safe64(uint104(principal) * indexDelta / trackingIndexScale / accrualDescaleFactor);
        } else {
            uint256 indexDelta = uint256(trackingBorrowIndex - basic.baseTrackingIndex);
            basic.baseTrackingAccrued +=
                safe64(uint104(-principal) * indexDelta / trackingIndexScale / accrualDescaleFactor);
        }

        if (principalNew >= 0) {
            basic.baseTrackingIndex = trackingSupplyIndex;
        } else {
            basic.baseTrackingIndex = trackingBorrowIndex;
        }

        userBasic[account] = basic;
    }

    // ---------------------------------------------------------------- token moves

    /// @dev Returns what actually arrived, as Comet does.
    function doTransferIn(address asset, address from, uint256 amount) internal returns (uint256) {
        uint256 preTransferBalance = ICometBaseToken(asset).balanceOf(address(this));
        ICometBaseToken(asset).transferFrom(from, address(this), amount);
        if (!lastCallSucceeded()) revert TransferInFailed();
        return ICometBaseToken(asset).balanceOf(address(this)) - preTransferBalance;
    }

    function doTransferOut(address asset, address to, uint256 amount) internal {
        ICometBaseToken(asset).transfer(to, amount);
        if (!lastCallSucceeded()) revert TransferOutFailed();
    }

    /// @dev No return data counts as success, 32 bytes are the returned bool, anything else reverts.
    function lastCallSucceeded() private pure returns (bool success) {
        assembly ("memory-safe") {
            switch returndatasize()
            case 0 { success := not(0) }
            case 32 {
                returndatacopy(0, 0, 32)
                success := mload(0)
            }
            default { revert(0, 0) }
        }
    }

    // ---------------------------------------------------------------- math (CometMath)

    function mulFactor(uint256 n, uint256 factor) internal pure returns (uint256) {
        return n * factor / FACTOR_SCALE;
    }

    function divBaseWei(uint256 n, uint256 baseWei) internal view returns (uint256) {
        return n * baseScale / baseWei;
    }

    function safe64(uint256 n) internal pure returns (uint64) {
        if (n > type(uint64).max) revert InvalidUInt64();
        return uint64(n);
    }

    function safe104(uint256 n) internal pure returns (uint104) {
        if (n > type(uint104).max) revert InvalidUInt104();
        return uint104(n);
    }

    function signed104(uint104 n) internal pure returns (int104) {
        if (n > uint104(type(int104).max)) revert InvalidInt104();
        return int104(n);
    }

    function signed256(uint256 n) internal pure returns (int256) {
        if (n > uint256(type(int256).max)) revert InvalidInt256();
        return int256(n);
    }

    function unsigned104(int104 n) internal pure returns (uint104) {
        if (n < 0) revert NegativeNumber();
        return uint104(n);
    }

    function unsigned256(int256 n) internal pure returns (uint256) {
        if (n < 0) revert NegativeNumber();
        return uint256(n);
    }

    function toUInt8(bool x) internal pure returns (uint8) {
        return x ? 1 : 0;
    }

    function toBool(uint8 x) internal pure returns (bool) {
        return x != 0;
    }
}
