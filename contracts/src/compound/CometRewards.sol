// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev The Comet calls CometRewards makes.
interface ICometRewardsSource {
    function baseAccrualScale() external view returns (uint64);
    function baseTrackingAccrued(address account) external view returns (uint64);
    function accrueAccount(address account) external;
    function hasPermission(address owner, address manager) external view returns (bool);
}

interface IRewardToken {
    function decimals() external view returns (uint8);
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @title CometRewards
/// @notice Local stand-in for Compound III's CometRewards: the same ABI, errors, events and
/// arithmetic for configuring a reward token per Comet, quoting (getRewardOwed, which accrues
/// the account first and so is non-view: read it with eth_call) and claiming (claim, claimTo).
/// Owed = Comet's baseTrackingAccrued rescaled from BASE_ACCRUAL_SCALE to the token's decimals,
/// times the configured multiplier / 1e18, minus what was already claimed. It pays from its own
/// balance of the reward token (a TestERC20 standing in for COMP), funded by the deployer.
/// Differs from CometRewards in: the governor is a plain account, not the Timelock; only the
/// single-token configuration (setRewardConfig, setRewardConfigWithMultiplier) is modelled, not
/// the campaign (V2) one. rewardConfig() returns (token, rescaleFactor, shouldUpscale,
/// multiplier) as the multiplier-aware CometRewards does; the first mainnet deployment, which
/// predates the multiplier, returns only the first three.
contract CometRewards {
    struct RewardConfig {
        address token;
        uint64 rescaleFactor;
        bool shouldUpscale;
        uint256 multiplier;
    }

    struct RewardOwed {
        address token;
        uint256 owed;
    }

    uint256 internal constant FACTOR_SCALE = 1e18;

    address public governor;
    mapping(address comet => RewardConfig) public rewardConfig;
    mapping(address comet => mapping(address account => uint256)) public rewardsClaimed;

    event GovernorTransferred(address indexed oldGovernor, address indexed newGovernor);
    event RewardsClaimedSet(address indexed user, address indexed comet, uint256 amount);
    event RewardClaimed(address indexed src, address indexed recipient, address indexed token, uint256 amount);

    error AlreadyConfigured(address);
    error BadData();
    error InvalidUInt64(uint256);
    error NotPermitted(address);
    error NotSupported(address);
    error TransferOutFailed(address, uint256);

    constructor(address governor_) {
        governor = governor_;
    }

    function setRewardConfigWithMultiplier(address comet, address token, uint256 multiplier) public {
        if (msg.sender != governor) revert NotPermitted(msg.sender);
        if (rewardConfig[comet].token != address(0)) revert AlreadyConfigured(comet);

        uint64 accrualScale = ICometRewardsSource(comet).baseAccrualScale();
        uint8 tokenDecimals = IRewardToken(token).decimals();
        uint64 tokenScale = safe64(10 ** tokenDecimals);
        if (accrualScale > tokenScale) {
            rewardConfig[comet] = RewardConfig({
                token: token,
                rescaleFactor: accrualScale / tokenScale,
                shouldUpscale: false,
                multiplier: multiplier
            });
        } else {
            rewardConfig[comet] = RewardConfig({
                token: token,
                rescaleFactor: tokenScale / accrualScale,
                shouldUpscale: true,
                multiplier: multiplier
            });
        }
    }

    function setRewardConfig(address comet, address token) external {
        setRewardConfigWithMultiplier(comet, token, FACTOR_SCALE);
    }

    function setRewardsClaimed(address comet, address[] calldata users, uint256[] calldata claimedAmounts) external {
        if (msg.sender != governor) revert NotPermitted(msg.sender);
        if (users.length != claimedAmounts.length) revert BadData();

        for (uint256 i = 0; i < users.length; ++i) {
            rewardsClaimed[comet][users[i]] = claimedAmounts[i];
            emit RewardsClaimedSet(users[i], comet, claimedAmounts[i]);
        }
    }

    function withdrawToken(address token, address to, uint256 amount) external {
        if (msg.sender != governor) revert NotPermitted(msg.sender);
        doTransferOut(token, to, amount);
    }

    function transferGovernor(address newGovernor) external {
        if (msg.sender != governor) revert NotPermitted(msg.sender);
        address oldGovernor = governor;
        governor = newGovernor;
        emit GovernorTransferred(oldGovernor, newGovernor);
    }

    /// @notice The reward owed to `account` on `comet`. Accrues the account on Comet first, so
    /// it is not a view: call it with eth_call.
    function getRewardOwed(address comet, address account) external returns (RewardOwed memory) {
        RewardConfig memory config = rewardConfig[comet];
        if (config.token == address(0)) revert NotSupported(comet);

        ICometRewardsSource(comet).accrueAccount(account);

        uint256 claimed = rewardsClaimed[comet][account];
        uint256 accrued = getRewardAccrued(comet, account, config);

        uint256 owed = accrued > claimed ? accrued - claimed : 0;
        return RewardOwed(config.token, owed);
    }

    function claim(address comet, address src, bool shouldAccrue) external {
        claimInternal(comet, src, src, shouldAccrue);
    }

    function claimTo(address comet, address src, address to, bool shouldAccrue) external {
        if (!ICometRewardsSource(comet).hasPermission(src, msg.sender)) revert NotPermitted(msg.sender);
        claimInternal(comet, src, to, shouldAccrue);
    }

    function claimInternal(address comet, address src, address to, bool shouldAccrue) internal {
        RewardConfig memory config = rewardConfig[comet];
        if (config.token == address(0)) revert NotSupported(comet);

        if (shouldAccrue) {
            ICometRewardsSource(comet).accrueAccount(src);
        }

        uint256 claimed = rewardsClaimed[comet][src];
        uint256 accrued = getRewardAccrued(comet, src, config);

        if (accrued > claimed) {
            uint256 owed = accrued - claimed;
            rewardsClaimed[comet][src] = accrued;
            doTransferOut(config.token, to, owed);

            emit RewardClaimed(src, to, config.token, owed);
        }
    }

    function getRewardAccrued(address comet, address account, RewardConfig memory config)
        internal
        view
        returns (uint256)
    {
        uint256 accrued = ICometRewardsSource(comet).baseTrackingAccrued(account);

        if (config.shouldUpscale) {
            accrued *= config.rescaleFactor;
        } else {
            accrued /= config.rescaleFactor;
        }
        return (accrued * config.multiplier) / FACTOR_SCALE;
    }

    function doTransferOut(address token, address to, uint256 amount) internal {
        bool success = IRewardToken(token).transfer(to, amount);
        if (!success) revert TransferOutFailed(to, amount);
    }

    function safe64(uint256 n) internal pure returns (uint64) {
        if (n > type(uint64).max) revert InvalidUInt64(n);
        return uint64(n);
    }
}
