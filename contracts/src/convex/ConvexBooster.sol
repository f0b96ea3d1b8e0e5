// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ConvexBaseRewardPool} from "./ConvexBaseRewardPool.sol";
import {ConvexDepositToken} from "./ConvexDepositToken.sol";

interface IConvexBoosterERC20 {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
    function symbol() external view returns (string memory);
}

interface IConvexBoosterStaker {
    function deposit(address _token, address _gauge) external returns (bool);
    function withdraw(address _token, address _gauge, uint256 _amount) external returns (bool);
    function claimCrv(address _gauge) external returns (uint256);
}

interface IConvexBoosterTokenMinter {
    function mint(address _to, uint256 _amount) external;
    function burn(address _from, uint256 _amount) external;
}

interface IConvexBoosterRewards {
    function stakeFor(address _for, uint256 _amount) external returns (bool);
    function queueNewRewards(uint256 _rewards) external returns (bool);
}

/// @title ConvexBooster (local stand-in)
/// @notice Convex's entry point: takes a Curve pool's LP tokens, stakes them in the pool's
/// gauge through the voter proxy, and (stake = true) stakes a deposit token for the
/// depositor in the pool's BaseRewardPool, which pays the gauge's CRV, less Convex's fees,
/// and has CVX minted per CRV paid.
/// Follows convex-eth/platform contracts/contracts/Booster.sol: `deposit(_pid, _amount,
/// _stake)`, `depositAll`, `withdraw`, `withdrawAll`, `withdrawTo` (the reward pool's
/// withdrawAndUnwrap), `earmarkRewards(_pid)` (claims the gauge's CRV through the voter
/// proxy; lockIncentive 10%, stakerIncentive 4.5%, earmarkIncentive 0.5% to the caller,
/// platformFee 0; the rest queued in the pool's reward contract), `rewardClaimed` minting
/// CVX from mintStart, `poolInfo(pid)` as (lptoken, token, gauge, crvRewards, stash,
/// shutdown), `poolLength`, `addPool`, `shutdownPool`; the same revert strings.
/// Left out: the factories (addPool creates the deposit token and reward pool itself), extra
/// reward stashes (stash is zero), cvxCRV staking and the CVX locker (their incentives go to
/// one `incentiveReceiver` instead of being queued as their rewards), voting, fee
/// distribution (`earmarkFees`), `setFees`, system shutdown.
contract ConvexBooster {
    address public immutable crv;

    uint256 public lockIncentive = 1000; //incentive to crv stakers
    uint256 public stakerIncentive = 450; //incentive to native token stakers
    uint256 public earmarkIncentive = 50; //incentive to users who spend gas to make calls
    uint256 public platformFee = 0; //possible fee to build treasury
    uint256 public constant MaxFees = 2000;
    uint256 public constant FEE_DENOMINATOR = 10000;

    address public owner;
    address public poolManager;
    address public staker;
    address public minter;
    address public incentiveReceiver; // stands in for lockRewards and stakerRewards
    uint256 public mintStart;

    bool public isShutdown;

    struct PoolInfo {
        address lptoken;
        address token;
        address gauge;
        address crvRewards;
        address stash;
        bool shutdown;
    }

    //index(pid) -> pool
    PoolInfo[] public poolInfo;

    event Deposited(address indexed user, uint256 indexed poolid, uint256 amount);
    event Withdrawn(address indexed user, uint256 indexed poolid, uint256 amount);

    constructor(address _staker, address _minter, address _crv, address _incentiveReceiver, uint256 _mintStart) {
        staker = _staker;
        minter = _minter;
        crv = _crv;
        incentiveReceiver = _incentiveReceiver;
        owner = msg.sender;
        poolManager = msg.sender;
        mintStart = _mintStart;
    }

    function poolLength() external view returns (uint256) {
        return poolInfo.length;
    }

    //create a new pool
    function addPool(address _lptoken, address _gauge, uint256 _stashVersion) external returns (bool) {
        require(msg.sender == poolManager && !isShutdown, "!add");
        require(_gauge != address(0) && _lptoken != address(0), "!param");
        _stashVersion; // no stashes in the stand-in

        //the next pool's pid
        uint256 pid = poolInfo.length;

        //create a tokenized deposit
        string memory symbol = IConvexBoosterERC20(_lptoken).symbol();
        address token = address(
            new ConvexDepositToken(
                address(this), string(abi.encodePacked(symbol, " Convex Deposit")), string(abi.encodePacked("cvx", symbol))
            )
        );
        //create a reward contract for crv rewards
        address newRewardPool = address(new ConvexBaseRewardPool(pid, token, crv, address(this)));

        poolInfo.push(
            PoolInfo({
                lptoken: _lptoken, token: token, gauge: _gauge, crvRewards: newRewardPool, stash: address(0), shutdown: false
            })
        );
        return true;
    }

    //shutdown pool
    function shutdownPool(uint256 _pid) external returns (bool) {
        require(msg.sender == poolManager, "!auth");
        poolInfo[_pid].shutdown = true;
        return true;
    }

    //deposit lp tokens and stake
    function deposit(uint256 _pid, uint256 _amount, bool _stake) public returns (bool) {
        require(!isShutdown, "shutdown");
        PoolInfo storage pool = poolInfo[_pid];
        require(pool.shutdown == false, "pool is closed");

        address lptoken = pool.lptoken;
        require(IConvexBoosterERC20(lptoken).transferFrom(msg.sender, address(this), _amount));
        _amount = IConvexBoosterERC20(lptoken).balanceOf(address(this));

        //move to curve gauge
        uint256 bal = IConvexBoosterERC20(lptoken).balanceOf(address(this));

        //send to proxy to stake
        require(IConvexBoosterERC20(lptoken).transfer(staker, bal));

        //stake
        address gauge = pool.gauge;
        require(gauge != address(0), "!gauge setting");
        IConvexBoosterStaker(staker).deposit(lptoken, gauge);

        address token = pool.token;
        if (_stake) {
            //mint here and send to rewards on user behalf
            IConvexBoosterTokenMinter(token).mint(address(this), _amount);
            address rewardContract = pool.crvRewards;
            IConvexBoosterERC20(token).approve(rewardContract, _amount);
            IConvexBoosterRewards(rewardContract).stakeFor(msg.sender, _amount);
        } else {
            //add user balance directly
            IConvexBoosterTokenMinter(token).mint(msg.sender, _amount);
        }

        emit Deposited(msg.sender, _pid, _amount);
        return true;
    }

    //deposit all lp tokens and stake
    function depositAll(uint256 _pid, bool _stake) external returns (bool) {
        address lptoken = poolInfo[_pid].lptoken;
        uint256 balance = IConvexBoosterERC20(lptoken).balanceOf(msg.sender);
        deposit(_pid, balance, _stake);
        return true;
    }

    //withdraw lp tokens
    function _withdraw(uint256 _pid, uint256 _amount, address _from, address _to) internal {
        PoolInfo storage pool = poolInfo[_pid];
        address lptoken = pool.lptoken;
        address gauge = pool.gauge;
        uint256 before = IConvexBoosterERC20(lptoken).balanceOf(address(this));

        //remove lp balance
        address token = pool.token;
        IConvexBoosterTokenMinter(token).burn(_from, _amount);

        //pull whats needed from gauge
        //  should always be full amount unless we withdrew everything to shutdown this contract
        if (before < _amount) {
            IConvexBoosterStaker(staker).withdraw(lptoken, gauge, _amount - before);
        }

        //return lp tokens
        require(IConvexBoosterERC20(lptoken).transfer(_to, _amount));

        emit Withdrawn(_to, _pid, _amount);
    }

    //withdraw lp tokens
    function withdraw(uint256 _pid, uint256 _amount) public returns (bool) {
        _withdraw(_pid, _amount, msg.sender, msg.sender);
        return true;
    }

    //withdraw all lp tokens
    function withdrawAll(uint256 _pid) public returns (bool) {
        address token = poolInfo[_pid].token;
        uint256 userBal = IConvexBoosterERC20(token).balanceOf(msg.sender);
        withdraw(_pid, userBal);
        return true;
    }

    //allow reward contracts to send here and withdraw to user
    function withdrawTo(uint256 _pid, uint256 _amount, address _to) external returns (bool) {
        address rewardContract = poolInfo[_pid].crvRewards;
        require(msg.sender == rewardContract, "!auth");

        _withdraw(_pid, _amount, address(this), _to);
        return true;
    }

    //claim crv, disperse to reward contracts
    function _earmarkRewards(uint256 _pid) internal {
        PoolInfo storage pool = poolInfo[_pid];
        require(pool.shutdown == false, "pool is closed");

        address gauge = pool.gauge;

        //claim crv
        IConvexBoosterStaker(staker).claimCrv(gauge);

        //crv balance
        uint256 crvBal = IConvexBoosterERC20(crv).balanceOf(address(this));

        if (crvBal > 0) {
            uint256 _lockIncentive = crvBal * lockIncentive / FEE_DENOMINATOR;
            uint256 _stakerIncentive = crvBal * stakerIncentive / FEE_DENOMINATOR;
            uint256 _callIncentive = crvBal * earmarkIncentive / FEE_DENOMINATOR;

            //remove incentives from balance
            crvBal = crvBal - _lockIncentive - _callIncentive - _stakerIncentive;

            //send incentives for calling
            require(IConvexBoosterERC20(crv).transfer(msg.sender, _callIncentive));

            //send crv to lp provider reward contract
            address rewardContract = pool.crvRewards;
            require(IConvexBoosterERC20(crv).transfer(rewardContract, crvBal));
            IConvexBoosterRewards(rewardContract).queueNewRewards(crvBal);

            //lockers' and stakers' shares (cvxCRV staking and the CVX locker are left out)
            require(IConvexBoosterERC20(crv).transfer(incentiveReceiver, _lockIncentive + _stakerIncentive));
        }
    }

    function earmarkRewards(uint256 _pid) external returns (bool) {
        require(!isShutdown, "shutdown");
        _earmarkRewards(_pid);
        return true;
    }

    //callback from reward contract when crv is received.
    function rewardClaimed(uint256 _pid, address _address, uint256 _amount) external returns (bool) {
        address rewardContract = poolInfo[_pid].crvRewards;
        require(msg.sender == rewardContract, "!auth");

        if (block.timestamp >= mintStart) {
            //mint reward tokens
            IConvexBoosterTokenMinter(minter).mint(_address, _amount);
        }
        return true;
    }
}
