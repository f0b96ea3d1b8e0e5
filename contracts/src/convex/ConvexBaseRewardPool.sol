// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IConvexBoosterCallbacks {
    function withdrawTo(uint256 _pid, uint256 _amount, address _to) external returns (bool);
    function rewardClaimed(uint256 _pid, address _address, uint256 _amount) external returns (bool);
}

interface IConvexERC20 {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

/// @title ConvexBaseRewardPool (local stand-in)
/// @notice Where a Convex pool's deposit tokens are staked: it streams the CRV the Booster
/// earmarks over 7 days (Synthetix's StakingRewards) and, when CRV is paid, has the Booster
/// mint CVX to the same account.
/// Follows convex-eth/platform contracts/contracts/BaseRewardPool.sol: `stakeFor` (the
/// Booster's deposit with stake=true), `stake`, `withdraw(amount, claim)`,
/// `withdrawAndUnwrap(amount, claim)` (the LP tokens back through the Booster's
/// `withdrawTo`), `getReward(_account, _claimExtras)` paying `_account` and calling the
/// Booster's `rewardClaimed`, `earned`, `rewardPerToken`, `queueNewRewards` with
/// newRewardRatio 750 and `notifyRewardAmount` over `duration` 7 days; the same revert strings.
/// Left out: extra reward pools (`extraRewards`, the reward manager) and `starttime`
/// (`checkStart`): rewards apply from creation.
contract ConvexBaseRewardPool {
    IConvexERC20 public rewardToken;
    IConvexERC20 public stakingToken;
    uint256 public constant duration = 7 days;

    address public operator;

    uint256 public pid;
    uint256 public periodFinish = 0;
    uint256 public rewardRate = 0;
    uint256 public lastUpdateTime;
    uint256 public rewardPerTokenStored;
    uint256 public queuedRewards = 0;
    uint256 public currentRewards = 0;
    uint256 public historicalRewards = 0;
    uint256 public constant newRewardRatio = 750;
    uint256 private _totalSupply;
    mapping(address => uint256) public userRewardPerTokenPaid;
    mapping(address => uint256) public rewards;
    mapping(address => uint256) private _balances;

    event RewardAdded(uint256 reward);
    event Staked(address indexed user, uint256 amount);
    event Withdrawn(address indexed user, uint256 amount);
    event RewardPaid(address indexed user, uint256 reward);

    constructor(uint256 pid_, address stakingToken_, address rewardToken_, address operator_) {
        pid = pid_;
        stakingToken = IConvexERC20(stakingToken_);
        rewardToken = IConvexERC20(rewardToken_);
        operator = operator_;
    }

    function totalSupply() public view returns (uint256) {
        return _totalSupply;
    }

    function balanceOf(address account) public view returns (uint256) {
        return _balances[account];
    }

    modifier updateReward(address account) {
        rewardPerTokenStored = rewardPerToken();
        lastUpdateTime = lastTimeRewardApplicable();
        if (account != address(0)) {
            rewards[account] = earned(account);
            userRewardPerTokenPaid[account] = rewardPerTokenStored;
        }
        _;
    }

    function lastTimeRewardApplicable() public view returns (uint256) {
        return block.timestamp < periodFinish ? block.timestamp : periodFinish;
    }

    function rewardPerToken() public view returns (uint256) {
        if (totalSupply() == 0) {
            return rewardPerTokenStored;
        }
        return rewardPerTokenStored + (lastTimeRewardApplicable() - lastUpdateTime) * rewardRate * 1e18 / totalSupply();
    }

    function earned(address account) public view returns (uint256) {
        return balanceOf(account) * (rewardPerToken() - userRewardPerTokenPaid[account]) / 1e18 + rewards[account];
    }

    function stake(uint256 _amount) public updateReward(msg.sender) returns (bool) {
        require(_amount > 0, "RewardPool : Cannot stake 0");
        _totalSupply = _totalSupply + _amount;
        _balances[msg.sender] = _balances[msg.sender] + _amount;
        require(stakingToken.transferFrom(msg.sender, address(this), _amount));
        emit Staked(msg.sender, _amount);
        return true;
    }

    function stakeFor(address _for, uint256 _amount) public updateReward(_for) returns (bool) {
        require(_amount > 0, "RewardPool : Cannot stake 0");
        //give to _for
        _totalSupply = _totalSupply + _amount;
        _balances[_for] = _balances[_for] + _amount;
        //take away from sender
        require(stakingToken.transferFrom(msg.sender, address(this), _amount));
        emit Staked(_for, _amount);
        return true;
    }

    function withdraw(uint256 amount, bool claim) public updateReward(msg.sender) returns (bool) {
        require(amount > 0, "RewardPool : Cannot withdraw 0");
        _totalSupply = _totalSupply - amount;
        _balances[msg.sender] = _balances[msg.sender] - amount;
        require(stakingToken.transfer(msg.sender, amount));
        emit Withdrawn(msg.sender, amount);
        if (claim) {
            getReward(msg.sender, true);
        }
        return true;
    }

    function withdrawAndUnwrap(uint256 amount, bool claim) external updateReward(msg.sender) returns (bool) {
        _totalSupply = _totalSupply - amount;
        _balances[msg.sender] = _balances[msg.sender] - amount;

        //send to operator instead
        require(stakingToken.transfer(operator, amount));
        IConvexBoosterCallbacks(operator).withdrawTo(pid, amount, msg.sender);
        emit Withdrawn(msg.sender, amount);

        //get rewards too
        if (claim) {
            getReward(msg.sender, true);
        }
        return true;
    }

    function getReward(address _account, bool _claimExtras) public updateReward(_account) returns (bool) {
        _claimExtras; // no extra reward pools in the stand-in
        uint256 reward = earned(_account);
        if (reward > 0) {
            rewards[_account] = 0;
            require(rewardToken.transfer(_account, reward));
            IConvexBoosterCallbacks(operator).rewardClaimed(pid, _account, reward);
            emit RewardPaid(_account, reward);
        }
        return true;
    }

    function getReward() external returns (bool) {
        getReward(msg.sender, true);
        return true;
    }

    function donate(uint256 _amount) external returns (bool) {
        require(rewardToken.transferFrom(msg.sender, address(this), _amount));
        queuedRewards = queuedRewards + _amount;
        return true;
    }

    function queueNewRewards(uint256 _rewards) external returns (bool) {
        require(msg.sender == operator, "!authorized");

        _rewards = _rewards + queuedRewards;

        if (block.timestamp >= periodFinish) {
            notifyRewardAmount(_rewards);
            queuedRewards = 0;
            return true;
        }

        uint256 queuedRatio = currentRewards * 1000 / _rewards;
        if (queuedRatio < newRewardRatio) {
            notifyRewardAmount(_rewards);
            queuedRewards = 0;
        } else {
            queuedRewards = _rewards;
        }
        return true;
    }

    function notifyRewardAmount(uint256 reward) internal updateReward(address(0)) {
        historicalRewards = historicalRewards + reward;
        if (block.timestamp >= periodFinish) {
            rewardRate = reward / duration;
        } else {
            uint256 remaining = periodFinish - block.timestamp;
            uint256 leftover = remaining * rewardRate;
            reward = reward + leftover;
            rewardRate = reward / duration;
        }
        currentRewards = reward;
        lastUpdateTime = block.timestamp;
        periodFinish = block.timestamp + duration;
        emit RewardAdded(reward);
    }
}
