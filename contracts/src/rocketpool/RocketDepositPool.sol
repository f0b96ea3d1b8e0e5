// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RocketBase} from "./RocketBase.sol";
import {RocketStorage} from "./RocketStorage.sol";
import {RocketVault} from "./RocketVault.sol";
import {RocketTokenRETH} from "./RocketTokenRETH.sol";

/// @title RocketDepositPool
/// @notice Local stand-in for Rocket Pool's RocketDepositPool (Houston). deposit() is the real
/// code: deposits enabled, minimum deposit, the maximum pool size (plus the minipool queue's
/// capacity when assignments are enabled) with the real revert strings, the deposit fee
/// (msg.value * depositFee / 1e18 stays in the pool; rETH is minted on the rest at rETH's
/// exchange rate), ETH kept in RocketVault under "rocketDepositPool", then assignment to queued
/// minipools (31 ETH each, Houston's socialised + scaling count, at most 90). getBalance,
/// getExcessBalance (balance beyond the queue's capacity: what backs rETH burns),
/// getMaximumDepositAmount, assignDeposits, maybeAssignDeposits, withdrawExcessBalance
/// (rETH only) and receiveVaultWithdrawalETH (vault only) behave as the real ones.
/// Differs from the real protocol:
/// - Deposit settings (RocketDAOProtocolSettingsDeposit's getters) live here and are set by
///   the RocketStorage guardian with setDepositSettings, instead of by pDAO proposals.
///   Defaults: deposits and assignments enabled, 0.01 ETH minimum, 5,000 ETH maximum pool
///   size, 0.05% deposit fee, at most 90 assignments a call and 2 socialised.
/// - The minipool queue is a list of addresses the guardian enqueues (enqueueMinipools)
///   instead of RocketMinipoolQueue fed by node operators; an assignment sends 31 ETH to the
///   address as a plain transfer (the real minipool's deposit()), which is how ETH leaves
///   the pool for validators. No node balance/credit (getNodeBalance is 0), no megapools,
///   no recycle entry points (dissolved minipools, excess collateral, liquidated RPL).
contract RocketDepositPool is RocketBase {
    uint256 public constant VARIABLE_DEPOSIT_AMOUNT = 31 ether;

    bool private depositEnabled = true;
    bool private assignDepositsEnabled = true;
    uint256 private minimumDeposit = 0.01 ether;
    uint256 private maximumDepositPoolSize = 5000 ether;
    uint256 private depositFee = 0.0005 ether; // 0.05%, in 1e18
    uint256 private maximumDepositAssignments = 90;
    uint256 private maximumDepositSocialisedAssignments = 2;

    address[] private minipoolQueue;
    uint256 private minipoolQueueStart;

    event DepositReceived(address indexed from, uint256 amount, uint256 time);
    event DepositAssigned(address indexed minipool, uint256 amount, uint256 time);
    event ExcessWithdrawn(address indexed to, uint256 amount, uint256 time);
    event MinipoolEnqueued(address indexed minipool, uint256 time);
    event DepositSettingsSet(
        bool depositEnabled,
        bool assignDepositsEnabled,
        uint256 minimumDeposit,
        uint256 maximumDepositPoolSize,
        uint256 depositFee
    );

    modifier onlyThisLatestContract() {
        require(
            address(this) == getAddress(keccak256("contract.addressrocketDepositPool")), "Invalid or outdated contract"
        );
        _;
    }

    constructor(RocketStorage _rocketStorageAddress) RocketBase(_rocketStorageAddress) {
        version = 3;
    }

    // ---------------------------------------------------------------- settings (RocketDAOProtocolSettingsDeposit)

    function getDepositEnabled() public view returns (bool) {
        return depositEnabled;
    }

    function getAssignDepositsEnabled() public view returns (bool) {
        return assignDepositsEnabled;
    }

    function getMinimumDeposit() public view returns (uint256) {
        return minimumDeposit;
    }

    function getMaximumDepositPoolSize() public view returns (uint256) {
        return maximumDepositPoolSize;
    }

    function getDepositFee() public view returns (uint256) {
        return depositFee;
    }

    function getMaximumDepositAssignments() public view returns (uint256) {
        return maximumDepositAssignments;
    }

    function getMaximumDepositSocialisedAssignments() public view returns (uint256) {
        return maximumDepositSocialisedAssignments;
    }

    function setDepositSettings(
        bool _depositEnabled,
        bool _assignDepositsEnabled,
        uint256 _minimumDeposit,
        uint256 _maximumDepositPoolSize,
        uint256 _depositFee
    ) external onlyGuardian {
        require(_depositFee <= calcBase, "Deposit fee above 100%");
        depositEnabled = _depositEnabled;
        assignDepositsEnabled = _assignDepositsEnabled;
        minimumDeposit = _minimumDeposit;
        maximumDepositPoolSize = _maximumDepositPoolSize;
        depositFee = _depositFee;
        emit DepositSettingsSet(
            _depositEnabled, _assignDepositsEnabled, _minimumDeposit, _maximumDepositPoolSize, _depositFee
        );
    }

    // ---------------------------------------------------------------- minipool queue (stand-in)

    /// @notice Minipools waiting for user ETH; each takes VARIABLE_DEPOSIT_AMOUNT on assignment.
    function enqueueMinipools(address[] calldata _minipools) external onlyGuardian {
        for (uint256 i = 0; i < _minipools.length; ++i) {
            require(_minipools[i] != address(0), "Invalid minipool");
            minipoolQueue.push(_minipools[i]);
            emit MinipoolEnqueued(_minipools[i], block.timestamp);
        }
    }

    function getMinipoolQueueLength() public view returns (uint256) {
        return minipoolQueue.length - minipoolQueueStart;
    }

    /// @notice RocketMinipoolQueue.getEffectiveCapacity: ETH the queued minipools still need.
    function getMinipoolQueueEffectiveCapacity() public view returns (uint256) {
        return getMinipoolQueueLength() * VARIABLE_DEPOSIT_AMOUNT;
    }

    // ---------------------------------------------------------------- balances

    /// @notice Returns the current deposit pool balance
    function getBalance() public view returns (uint256) {
        return RocketVault(getContractAddress("rocketVault")).balanceOf("rocketDepositPool");
    }

    /// @notice ETH contributed by node operators waiting in the queue (none in the stand-in)
    function getNodeBalance() public pure returns (uint256) {
        return 0;
    }

    /// @notice The user owned portion of the deposit pool
    function getUserBalance() external view returns (int256) {
        return int256(getBalance()) - int256(getNodeBalance());
    }

    /// @notice Excess deposit pool balance (in excess of minipool queue capacity)
    function getExcessBalance() public view returns (uint256) {
        uint256 minipoolCapacity = getMinipoolQueueEffectiveCapacity();
        uint256 balance = getBalance();
        if (minipoolCapacity >= balance) return 0;
        return balance - minipoolCapacity;
    }

    /// @dev Callback required to receive ETH withdrawal from the vault
    function receiveVaultWithdrawalETH()
        external
        payable
        onlyThisLatestContract
        onlyLatestContract("rocketVault", msg.sender)
    {}

    // ---------------------------------------------------------------- deposits

    /// @notice Deposits ETH into Rocket Pool and mints the corresponding amount of rETH to the caller
    function deposit() external payable onlyThisLatestContract {
        require(getDepositEnabled(), "Deposits into Rocket Pool are currently disabled");
        require(msg.value >= getMinimumDeposit(), "The deposited amount is less than the minimum deposit size");
        uint256 capacityNeeded = getBalance() + msg.value;
        uint256 maxDepositPoolSize = getMaximumDepositPoolSize();
        if (capacityNeeded > maxDepositPoolSize) {
            if (getAssignDepositsEnabled()) {
                require(
                    capacityNeeded <= maxDepositPoolSize + getMinipoolQueueEffectiveCapacity(),
                    "The deposit pool size after depositing (and matching with minipools) exceeds the maximum size"
                );
            } else {
                revert("The deposit pool size after depositing exceeds the maximum size");
            }
        }
        // Calculate deposit fee
        uint256 fee = msg.value * getDepositFee() / calcBase;
        uint256 depositNet = msg.value - fee;
        // Mint rETH to user account
        RocketTokenRETH(payable(getContractAddress("rocketTokenRETH"))).mint(depositNet, msg.sender);
        emit DepositReceived(msg.sender, msg.value, block.timestamp);
        _processDeposit();
    }

    /// @notice Returns the maximum amount that can be accepted into the deposit pool at this time in wei
    function getMaximumDepositAmount() external view returns (uint256) {
        if (!getDepositEnabled()) return 0;
        uint256 depositPoolBalance = getBalance();
        uint256 maxCapacity = getMaximumDepositPoolSize();
        if (getAssignDepositsEnabled()) {
            maxCapacity = maxCapacity + getMinipoolQueueEffectiveCapacity();
        }
        if (depositPoolBalance >= maxCapacity) return 0;
        return maxCapacity - depositPoolBalance;
    }

    /// @notice Assign deposits to available minipools. Reverts if assigning deposits is disabled.
    function assignDeposits() external onlyThisLatestContract {
        require(_assignDeposits(), "Deposit assignments are currently disabled");
    }

    /// @dev Assign deposits to available minipools. Does nothing if assigning deposits is disabled.
    function maybeAssignDeposits() external onlyThisLatestContract returns (bool) {
        return _assignDeposits();
    }

    /// @dev Withdraw excess deposit pool balance for rETH collateral
    function withdrawExcessBalance(uint256 _amount)
        external
        onlyThisLatestContract
        onlyLatestContract("rocketTokenRETH", msg.sender)
    {
        require(_amount <= getExcessBalance(), "Insufficient excess balance for withdrawal");
        RocketVault(getContractAddress("rocketVault")).withdrawEther(_amount);
        RocketTokenRETH(payable(getContractAddress("rocketTokenRETH"))).depositExcess{value: _amount}();
        emit ExcessWithdrawn(msg.sender, _amount, block.timestamp);
    }

    function _processDeposit() private {
        RocketVault(getContractAddress("rocketVault")).depositEther{value: msg.value}();
        _assignDeposits();
    }

    /// @dev Houston's legacy-queue assignment: up to socialised + msg.value / 31 ETH minipools,
    /// bounded by the pool's balance and the maximum per call.
    function _assignDeposits() private returns (bool) {
        if (!getAssignDepositsEnabled()) return false;
        uint256 scalingCount = msg.value / VARIABLE_DEPOSIT_AMOUNT;
        uint256 totalEthCount = getBalance() / VARIABLE_DEPOSIT_AMOUNT;
        uint256 assignments = getMaximumDepositSocialisedAssignments() + scalingCount;
        if (assignments > totalEthCount) assignments = totalEthCount;
        if (assignments > getMaximumDepositAssignments()) assignments = getMaximumDepositAssignments();
        uint256 queued = getMinipoolQueueLength();
        if (assignments > queued) assignments = queued;
        if (assignments == 0) return true;

        RocketVault(getContractAddress("rocketVault")).withdrawEther(assignments * VARIABLE_DEPOSIT_AMOUNT);
        for (uint256 i = 0; i < assignments; ++i) {
            address minipool = minipoolQueue[minipoolQueueStart];
            delete minipoolQueue[minipoolQueueStart];
            ++minipoolQueueStart;
            (bool ok,) = minipool.call{value: VARIABLE_DEPOSIT_AMOUNT}("");
            require(ok, "Minipool deposit failed");
            emit DepositAssigned(minipool, VARIABLE_DEPOSIT_AMOUNT, block.timestamp);
        }
        return true;
    }
}
