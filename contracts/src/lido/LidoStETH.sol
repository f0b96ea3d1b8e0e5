// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {LidoWithdrawalQueueERC721} from "./LidoWithdrawalQueueERC721.sol";

/// @title LidoStETH
/// @notice Local stand-in for Lido's stETH (the Lido contract: Lido v2's StETH.sol + Lido.sol).
/// It keeps stETH's ABI, units and arithmetic for what the engine calls: shares-based
/// balances (balanceOf = getPooledEthByShares(sharesOf)), both conversions rounding down,
/// submit(_referral) returning the shares minted, transfers that move
/// getSharesByPooledEth(_amount) shares (so a recipient may see 1-2 wei less than was sent, as
/// on mainnet), transferShares/transferSharesFrom, allowances in stETH with the infinite
/// allowance never spent, the staking pause and stake limit (Lido's StakeLimitUtils), the
/// initial 0xdead holder bootstrapped from the deployment value, and Lido's revert strings
/// ("ZERO_DEPOSIT", "STAKING_PAUSED", "STAKE_LIMIT", "BALANCE_EXCEEDED", "ALLOWANCE_EXCEEDED",
/// "TRANSFER_TO_STETH_CONTRACT", "APP_AUTH_FAILED", ...).
/// Differs from the real protocol:
/// - The accounting oracle is one address calling oracleReport(clBalanceDelta) instead of a
///   HashConsensus quorum calling handleOracleReport through AccountingOracle. The report
///   follows handleOracleReport's order: the consensus-layer balance moves by the signed
///   delta; ETH sent with the report is validators' withdrawals arriving in the buffer (it
///   leaves the CL balance, so it does not move the share rate); withdrawal requests are
///   finalised at the simulated post-report share rate (computed on chain here, supplied by
///   the oracle off chain on mainnet) with the queue's own calculateFinalizationBatches /
///   prefinalize / finalize, up to what the buffer covers; the queue's shares are burnt; then
///   the protocol fee is minted as shares with Lido's _distributeFee formula. No sanity
///   checker, rebase limiter, bunker mode, EL rewards vault or request timestamp margin.
/// - The fee (totalFee, in StakingRouter's 1e20 = 100% precision, 10% by default) goes to one
///   treasury address instead of being split between the treasury and the staking modules.
/// - There are no validators: depositToValidators(amount) sends buffered ETH to the oracle
///   address and adds it to the CL balance at once (no transient stage); the oracle plays the
///   consensus layer and sends withdrawn ETH back with a report.
/// - Roles are one admin (staking pause/limit) and one oracle; no Aragon ACL, no stop()/resume()
///   of the whole token, no permit (EIP-2612), no external shares (v3 vaults), no locator:
///   the admin sets the withdrawal queue once.
contract LidoStETH {
    address internal constant INITIAL_TOKEN_HOLDER = address(0xdead);
    uint256 internal constant INFINITE_ALLOWANCE = type(uint256).max;
    uint256 internal constant E27_PRECISION_BASE = 1e27;
    /// @notice StakingRouter's fee precision: 1e20 is 100%.
    uint256 public constant FEE_PRECISION_POINTS = 1e20;
    uint256 internal constant MAX_REQUESTS_PER_CALL = 1000;

    address public immutable admin;
    address public immutable oracle;
    address public immutable treasury;
    LidoWithdrawalQueueERC721 public withdrawalQueue;
    /// @notice Protocol fee on rewards, FEE_PRECISION_POINTS = 100%.
    uint256 public totalFee = 1e19;

    mapping(address => uint256) private shares;
    mapping(address => mapping(address => uint256)) private allowances;
    uint256 private totalShares;
    uint256 private bufferedEther;
    uint256 private clBalance;

    // Lido's StakeLimitState.Data, one slot: paused iff prevStakeBlockNumber == 0,
    // unlimited iff maxStakeLimit == 0.
    struct StakeLimitData {
        uint32 prevStakeBlockNumber;
        uint96 prevStakeLimit;
        uint32 maxStakeLimitGrowthBlocks;
        uint96 maxStakeLimit;
    }

    StakeLimitData private stakeLimit;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event TransferShares(address indexed from, address indexed to, uint256 sharesValue);
    event SharesBurnt(
        address indexed account, uint256 preRebaseTokenAmount, uint256 postRebaseTokenAmount, uint256 sharesAmount
    );
    event Submitted(address indexed sender, uint256 amount, address referral);
    event StakingPaused();
    event StakingResumed();
    event StakingLimitSet(uint256 maxStakeLimit, uint256 stakeLimitIncreasePerBlock);
    event StakingLimitRemoved();
    event ETHDistributed(
        uint256 indexed reportTimestamp,
        uint256 preCLBalance,
        uint256 postCLBalance,
        uint256 withdrawalsWithdrawn,
        uint256 executionLayerRewardsWithdrawn,
        uint256 postBufferedEther
    );
    event TokenRebased(
        uint256 indexed reportTimestamp,
        uint256 timeElapsed,
        uint256 preTotalShares,
        uint256 preTotalEther,
        uint256 postTotalShares,
        uint256 postTotalEther,
        uint256 sharesMintedAsFees
    );
    /// @notice Stand-in only: buffered ETH sent to the consensus layer (the oracle address).
    event DepositedToValidators(uint256 amount, uint256 postCLBalance);
    event WithdrawalQueueSet(address withdrawalQueue);
    event FeeSet(uint256 totalFee);

    /// @dev Lido bootstraps the initial holder from its balance at initialisation (reverting
    /// when it is zero), so totalShares and totalPooledEther are never zero afterwards.
    constructor(address _admin, address _oracle, address _treasury) payable {
        require(_admin != address(0) && _oracle != address(0) && _treasury != address(0), "ZERO_ADDRESS");
        assert(msg.value != 0);
        admin = _admin;
        oracle = _oracle;
        treasury = _treasury;
        bufferedEther = msg.value;
        emit Submitted(INITIAL_TOKEN_HOLDER, msg.value, address(0));
        _mintShares(INITIAL_TOKEN_HOLDER, msg.value);
        _emitTransferAfterMintingShares(INITIAL_TOKEN_HOLDER, msg.value);
        // Staking resumed and unlimited (Lido deploys it paused; the DAO resumes it).
        stakeLimit.prevStakeBlockNumber = uint32(block.number);
    }

    // ---------------------------------------------------------------- ERC-20 views

    function name() external pure returns (string memory) {
        return "Liquid staked Ether 2.0";
    }

    function symbol() external pure returns (string memory) {
        return "stETH";
    }

    function decimals() external pure returns (uint8) {
        return 18;
    }

    function totalSupply() external view returns (uint256) {
        return _getTotalPooledEther();
    }

    function getTotalPooledEther() external view returns (uint256) {
        return _getTotalPooledEther();
    }

    function balanceOf(address _account) external view returns (uint256) {
        return getPooledEthByShares(shares[_account]);
    }

    function allowance(address _owner, address _spender) external view returns (uint256) {
        return allowances[_owner][_spender];
    }

    function getTotalShares() external view returns (uint256) {
        return totalShares;
    }

    function sharesOf(address _account) external view returns (uint256) {
        return shares[_account];
    }

    function getSharesByPooledEth(uint256 _ethAmount) public view returns (uint256) {
        return _ethAmount * totalShares / _getTotalPooledEther();
    }

    function getPooledEthByShares(uint256 _sharesAmount) public view returns (uint256) {
        return _sharesAmount * _getTotalPooledEther() / totalShares;
    }

    function getBufferedEther() external view returns (uint256) {
        return bufferedEther;
    }

    /// @notice (depositedValidators, beaconValidators, beaconBalance); the stand-in has no
    /// validator count, so the first two are 0.
    function getBeaconStat()
        external
        view
        returns (uint256 depositedValidators, uint256 beaconValidators, uint256 beaconBalance)
    {
        return (0, 0, clBalance);
    }

    // ---------------------------------------------------------------- ERC-20 actions

    function transfer(address _recipient, uint256 _amount) external returns (bool) {
        _transfer(msg.sender, _recipient, _amount);
        return true;
    }

    function approve(address _spender, uint256 _amount) external returns (bool) {
        _approve(msg.sender, _spender, _amount);
        return true;
    }

    function transferFrom(address _sender, address _recipient, uint256 _amount) external returns (bool) {
        _spendAllowance(_sender, msg.sender, _amount);
        _transfer(_sender, _recipient, _amount);
        return true;
    }

    function increaseAllowance(address _spender, uint256 _addedValue) external returns (bool) {
        _approve(msg.sender, _spender, allowances[msg.sender][_spender] + _addedValue);
        return true;
    }

    function decreaseAllowance(address _spender, uint256 _subtractedValue) external returns (bool) {
        uint256 currentAllowance = allowances[msg.sender][_spender];
        require(currentAllowance >= _subtractedValue, "ALLOWANCE_BELOW_ZERO");
        _approve(msg.sender, _spender, currentAllowance - _subtractedValue);
        return true;
    }

    function transferShares(address _recipient, uint256 _sharesAmount) external returns (uint256) {
        _transferShares(msg.sender, _recipient, _sharesAmount);
        uint256 tokensAmount = getPooledEthByShares(_sharesAmount);
        _emitTransferEvents(msg.sender, _recipient, tokensAmount, _sharesAmount);
        return tokensAmount;
    }

    function transferSharesFrom(address _sender, address _recipient, uint256 _sharesAmount)
        external
        returns (uint256)
    {
        uint256 tokensAmount = getPooledEthByShares(_sharesAmount);
        _spendAllowance(_sender, msg.sender, tokensAmount);
        _transferShares(_sender, _recipient, _sharesAmount);
        _emitTransferEvents(_sender, _recipient, tokensAmount, _sharesAmount);
        return tokensAmount;
    }

    // ---------------------------------------------------------------- staking

    /// @notice Plain ETH is a submit without referral, as Lido's payable fallback.
    receive() external payable {
        _submit(address(0));
    }

    /// @dev Lido refuses ETH sent with calldata it does not know.
    fallback() external payable {
        revert("NON_EMPTY_DATA");
    }

    function submit(address _referral) external payable returns (uint256) {
        return _submit(_referral);
    }

    function isStakingPaused() external view returns (bool) {
        return stakeLimit.prevStakeBlockNumber == 0;
    }

    /// @notice type(uint256).max when unlimited, 0 when paused or exhausted.
    function getCurrentStakeLimit() external view returns (uint256) {
        return _getCurrentStakeLimit(stakeLimit);
    }

    function getStakeLimitFullInfo()
        external
        view
        returns (
            bool isStakingPaused_,
            bool isStakingLimitSet,
            uint256 currentStakeLimit,
            uint256 maxStakeLimit,
            uint256 maxStakeLimitGrowthBlocks,
            uint256 prevStakeLimit,
            uint256 prevStakeBlockNumber
        )
    {
        StakeLimitData memory d = stakeLimit;
        isStakingPaused_ = d.prevStakeBlockNumber == 0;
        isStakingLimitSet = d.maxStakeLimit != 0;
        currentStakeLimit = _getCurrentStakeLimit(d);
        maxStakeLimit = d.maxStakeLimit;
        maxStakeLimitGrowthBlocks = d.maxStakeLimitGrowthBlocks;
        prevStakeLimit = d.prevStakeLimit;
        prevStakeBlockNumber = d.prevStakeBlockNumber;
    }

    function pauseStaking() external {
        _auth(admin);
        stakeLimit.prevStakeBlockNumber = 0;
        emit StakingPaused();
    }

    function resumeStaking() external {
        _auth(admin);
        stakeLimit.prevStakeBlockNumber = uint32(block.number);
        emit StakingResumed();
    }

    /// @notice Lido's setStakingLimit: the limit regrows by _stakeLimitIncreasePerBlock a block.
    function setStakingLimit(uint256 _maxStakeLimit, uint256 _stakeLimitIncreasePerBlock) external {
        _auth(admin);
        require(_maxStakeLimit != 0, "ZERO_MAX_STAKE_LIMIT");
        require(_maxStakeLimit <= type(uint96).max, "TOO_LARGE_MAX_STAKE_LIMIT");
        require(_maxStakeLimit >= _stakeLimitIncreasePerBlock, "TOO_LARGE_LIMIT_INCREASE");
        require(
            _stakeLimitIncreasePerBlock == 0 || _maxStakeLimit / _stakeLimitIncreasePerBlock <= type(uint32).max,
            "TOO_SMALL_LIMIT_INCREASE"
        );
        StakeLimitData memory d = stakeLimit;
        if (d.prevStakeBlockNumber == 0 || d.maxStakeLimit == 0 || _maxStakeLimit < d.prevStakeLimit) {
            d.prevStakeLimit = uint96(_maxStakeLimit);
        }
        d.maxStakeLimitGrowthBlocks =
            _stakeLimitIncreasePerBlock != 0 ? uint32(_maxStakeLimit / _stakeLimitIncreasePerBlock) : 0;
        d.maxStakeLimit = uint96(_maxStakeLimit);
        if (d.prevStakeBlockNumber != 0) d.prevStakeBlockNumber = uint32(block.number);
        stakeLimit = d;
        emit StakingLimitSet(_maxStakeLimit, _stakeLimitIncreasePerBlock);
    }

    function removeStakingLimit() external {
        _auth(admin);
        stakeLimit.maxStakeLimit = 0;
        emit StakingLimitRemoved();
    }

    // ---------------------------------------------------------------- stand-in wiring and oracle

    /// @notice Once, by the admin: the queue whose requests reports finalise (the locator's
    /// withdrawalQueue on mainnet).
    function setWithdrawalQueue(address _withdrawalQueue) external {
        _auth(admin);
        require(address(withdrawalQueue) == address(0), "WITHDRAWAL_QUEUE_ALREADY_SET");
        require(address(LidoWithdrawalQueueERC721(payable(_withdrawalQueue)).STETH()) == address(this), "WRONG_QUEUE");
        withdrawalQueue = LidoWithdrawalQueueERC721(payable(_withdrawalQueue));
        emit WithdrawalQueueSet(_withdrawalQueue);
    }

    function setFee(uint256 _totalFee) external {
        _auth(admin);
        require(_totalFee < FEE_PRECISION_POINTS, "VALUE_OVER_100_PERCENT");
        totalFee = _totalFee;
        emit FeeSet(_totalFee);
    }

    /// @notice Stand-in for deposits to validators: buffered ETH goes to the oracle address
    /// (the consensus layer here) and counts in the CL balance from now on.
    function depositToValidators(uint256 _amount) external {
        _auth(oracle);
        uint256 depositable = bufferedEther;
        if (address(withdrawalQueue) != address(0)) {
            // Lido keeps the buffer needed by unfinalised requests (getDepositableEther).
            uint256 reserve = withdrawalQueue.unfinalizedStETH();
            depositable = depositable > reserve ? depositable - reserve : 0;
        }
        require(_amount <= depositable, "NOT_ENOUGH_DEPOSITABLE_ETHER");
        bufferedEther -= _amount;
        clBalance += _amount;
        (bool ok,) = oracle.call{value: _amount}("");
        require(ok, "DEPOSIT_TRANSFER_FAILED");
        emit DepositedToValidators(_amount, clBalance);
    }

    /// @notice The stand-in's accounting oracle report (handleOracleReport's effects).
    /// @param _clBalanceDelta rewards (> 0) or penalties (< 0) on the consensus layer since the
    /// last report; moves totalPooledEther and so the share rate.
    /// msg.value: ETH withdrawn from validators arriving in the buffer (share-rate neutral).
    /// Finalises pending withdrawal requests at the post-report share rate as far as the
    /// buffer covers them, burns their shares, and mints the fee on positive rewards.
    /// @return postTotalPooledEther total pooled ether after the report
    /// @return postTotalShares total shares after the report
    /// @return etherLockedOnWithdrawalQueue ETH sent to the queue for finalised requests
    function oracleReport(int256 _clBalanceDelta)
        external
        payable
        returns (uint256 postTotalPooledEther, uint256 postTotalShares, uint256 etherLockedOnWithdrawalQueue)
    {
        _auth(oracle);
        uint256 preTotalPooledEther = _getTotalPooledEther();
        uint256 preTotalShares = totalShares;
        uint256 preCLBalance = clBalance;

        int256 postCL = int256(preCLBalance) + _clBalanceDelta - int256(msg.value);
        require(postCL >= 0, "CL_BALANCE_BELOW_ZERO");
        clBalance = uint256(postCL);
        bufferedEther += msg.value;

        uint256 rewards = _clBalanceDelta > 0 ? uint256(_clBalanceDelta) : 0;
        uint256 sharesMintedAsFees;
        if (rewards > 0 && totalFee > 0) {
            // Lido's _distributeFee: the fee's shares are worth totalFee of the rewards.
            sharesMintedAsFees = rewards * totalFee * preTotalShares
                / ((preTotalPooledEther + rewards) * FEE_PRECISION_POINTS - rewards * totalFee);
        }

        if (address(withdrawalQueue) != address(0)) {
            // AccountingOracle tells the queue of the report before Lido handles it.
            withdrawalQueue.onOracleReport(false, 0, block.timestamp - 1);
            // The share rate the oracle simulates: after rewards and fee, before finalisation.
            uint256 simulatedShareRate =
                _getTotalPooledEther() * E27_PRECISION_BASE / (preTotalShares + sharesMintedAsFees);
            etherLockedOnWithdrawalQueue = _finalizeWithdrawals(simulatedShareRate);
        }

        if (sharesMintedAsFees > 0) {
            _mintShares(treasury, sharesMintedAsFees);
            _emitTransferAfterMintingShares(treasury, sharesMintedAsFees);
        }

        emit ETHDistributed(
            block.timestamp, preCLBalance, clBalance, msg.value, 0, bufferedEther
        );
        postTotalPooledEther = _getTotalPooledEther();
        postTotalShares = totalShares;
        emit TokenRebased(
            block.timestamp,
            0,
            preTotalShares,
            preTotalPooledEther,
            postTotalShares,
            postTotalPooledEther,
            sharesMintedAsFees
        );
    }

    // ---------------------------------------------------------------- internals

    function _finalizeWithdrawals(uint256 _shareRate) private returns (uint256 ethToLock) {
        LidoWithdrawalQueueERC721 queue = withdrawalQueue;
        if (queue.unfinalizedRequestNumber() == 0 || bufferedEther == 0) return 0;

        LidoWithdrawalQueueERC721.BatchesCalculationState memory state;
        state.remainingEthBudget = bufferedEther;
        while (!state.finished && state.remainingEthBudget > 0) {
            state = queue.calculateFinalizationBatches(_shareRate, block.timestamp, MAX_REQUESTS_PER_CALL, state);
        }
        if (state.batchesLength == 0) return 0;

        uint256[] memory batches = new uint256[](state.batchesLength);
        for (uint256 i = 0; i < state.batchesLength; ++i) {
            batches[i] = state.batches[i];
        }
        uint256 sharesToBurn;
        (ethToLock, sharesToBurn) = queue.prefinalize(batches, _shareRate);

        bufferedEther -= ethToLock;
        queue.finalize{value: ethToLock}(batches[batches.length - 1], _shareRate);
        // The Burner burns the finalised requests' shares, which the queue holds.
        _burnShares(address(queue), sharesToBurn);
    }

    function _submit(address _referral) private returns (uint256) {
        require(msg.value != 0, "ZERO_DEPOSIT");

        StakeLimitData memory d = stakeLimit;
        require(d.prevStakeBlockNumber != 0, "STAKING_PAUSED");
        if (d.maxStakeLimit != 0) {
            uint256 currentStakeLimit = _calculateCurrentStakeLimit(d);
            require(msg.value <= currentStakeLimit, "STAKE_LIMIT");
            d.prevStakeLimit = uint96(currentStakeLimit - msg.value);
            d.prevStakeBlockNumber = uint32(block.number);
            stakeLimit = d;
        }

        uint256 sharesAmount = getSharesByPooledEth(msg.value);
        _mintShares(msg.sender, sharesAmount);
        bufferedEther += msg.value;
        emit Submitted(msg.sender, msg.value, _referral);
        _emitTransferAfterMintingShares(msg.sender, sharesAmount);
        return sharesAmount;
    }

    function _getTotalPooledEther() private view returns (uint256) {
        return bufferedEther + clBalance;
    }

    function _getCurrentStakeLimit(StakeLimitData memory d) private view returns (uint256) {
        if (d.prevStakeBlockNumber == 0) return 0;
        if (d.maxStakeLimit == 0) return type(uint256).max;
        return _calculateCurrentStakeLimit(d);
    }

    /// @dev StakeLimitUtils.calculateCurrentStakeLimit (branching instead of constant gas).
    function _calculateCurrentStakeLimit(StakeLimitData memory d) private view returns (uint256) {
        uint256 increasePerBlock;
        if (d.maxStakeLimitGrowthBlocks != 0) increasePerBlock = d.maxStakeLimit / d.maxStakeLimitGrowthBlocks;
        uint256 change = (block.number - d.prevStakeBlockNumber) * increasePerBlock;
        if (d.prevStakeLimit < d.maxStakeLimit) {
            uint256 increased = d.prevStakeLimit + change;
            return increased < d.maxStakeLimit ? increased : d.maxStakeLimit;
        }
        uint256 decreased = d.prevStakeLimit > change ? d.prevStakeLimit - change : 0;
        return decreased > d.maxStakeLimit ? decreased : d.maxStakeLimit;
    }

    function _auth(address _allowed) private view {
        require(msg.sender == _allowed, "APP_AUTH_FAILED");
    }

    function _transfer(address _sender, address _recipient, uint256 _amount) private {
        uint256 sharesToTransfer = getSharesByPooledEth(_amount);
        _transferShares(_sender, _recipient, sharesToTransfer);
        _emitTransferEvents(_sender, _recipient, _amount, sharesToTransfer);
    }

    function _approve(address _owner, address _spender, uint256 _amount) private {
        require(_owner != address(0), "APPROVE_FROM_ZERO_ADDR");
        require(_spender != address(0), "APPROVE_TO_ZERO_ADDR");
        allowances[_owner][_spender] = _amount;
        emit Approval(_owner, _spender, _amount);
    }

    function _spendAllowance(address _owner, address _spender, uint256 _amount) private {
        uint256 currentAllowance = allowances[_owner][_spender];
        if (currentAllowance != INFINITE_ALLOWANCE) {
            require(currentAllowance >= _amount, "ALLOWANCE_EXCEEDED");
            _approve(_owner, _spender, currentAllowance - _amount);
        }
    }

    function _transferShares(address _sender, address _recipient, uint256 _sharesAmount) private {
        require(_sender != address(0), "TRANSFER_FROM_ZERO_ADDR");
        require(_recipient != address(0), "TRANSFER_TO_ZERO_ADDR");
        require(_recipient != address(this), "TRANSFER_TO_STETH_CONTRACT");
        uint256 currentSenderShares = shares[_sender];
        require(_sharesAmount <= currentSenderShares, "BALANCE_EXCEEDED");
        shares[_sender] = currentSenderShares - _sharesAmount;
        shares[_recipient] += _sharesAmount;
    }

    function _mintShares(address _recipient, uint256 _sharesAmount) private {
        require(_recipient != address(0), "MINT_TO_ZERO_ADDR");
        totalShares += _sharesAmount;
        shares[_recipient] += _sharesAmount;
    }

    function _burnShares(address _account, uint256 _sharesAmount) private {
        require(_account != address(0), "BURN_FROM_ZERO_ADDR");
        uint256 accountShares = shares[_account];
        require(_sharesAmount <= accountShares, "BALANCE_EXCEEDED");
        uint256 preRebaseTokenAmount = getPooledEthByShares(_sharesAmount);
        totalShares -= _sharesAmount;
        shares[_account] = accountShares - _sharesAmount;
        uint256 postRebaseTokenAmount = getPooledEthByShares(_sharesAmount);
        emit SharesBurnt(_account, preRebaseTokenAmount, postRebaseTokenAmount, _sharesAmount);
    }

    function _emitTransferEvents(address _from, address _to, uint256 _tokenAmount, uint256 _sharesAmount) private {
        emit Transfer(_from, _to, _tokenAmount);
        emit TransferShares(_from, _to, _sharesAmount);
    }

    function _emitTransferAfterMintingShares(address _to, uint256 _sharesAmount) private {
        _emitTransferEvents(address(0), _to, getPooledEthByShares(_sharesAmount), _sharesAmount);
    }
}
