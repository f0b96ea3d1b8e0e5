// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface ICurveGaugeForConvex {
    function deposit(uint256 _value) external;
    function withdraw(uint256 _value) external;
    function balanceOf(address account) external view returns (uint256);
}

interface ICurveMinterForConvex {
    function mint(address gauge_addr) external;
}

interface IConvexProxyERC20 {
    function transfer(address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

/// @title ConvexVoterProxy (local stand-in)
/// @notice The single account through which Convex stakes every LP token in Curve's gauges
/// and mints their CRV (with its veCRV boost on mainnet).
/// Follows convex-eth/platform contracts/contracts/VoterProxy.sol (CurveVoterProxy):
/// `deposit(_token, _gauge)` stakes its whole balance of the LP token in the gauge,
/// `withdraw(_token, _gauge, _amount)` takes it out to the operator, `claimCrv(_gauge)`
/// mints through Curve's Minter and sends the CRV to the operator, `balanceOfPool`; only
/// the operator (the Booster) may call them ("!auth").
/// Left out: veCRV locking and voting (`createLock`, `increaseAmount`, `vote`,
/// `voteGaugeWeight`, `claimFees`), stash access, `execute`; the local gauge has no boost.
contract ConvexVoterProxy {
    address public immutable mintr;
    address public immutable crv;
    address public owner;
    address public operator;

    constructor(address _minter, address _crv) {
        mintr = _minter;
        crv = _crv;
        owner = msg.sender;
    }

    function getName() external pure returns (string memory) {
        return "CurveVoterProxy";
    }

    function setOperator(address _operator) external {
        require(msg.sender == owner, "!auth");
        require(operator == address(0), "needs shutdown");
        operator = _operator;
    }

    function deposit(address _token, address _gauge) external returns (bool) {
        require(msg.sender == operator, "!auth");
        uint256 balance = IConvexProxyERC20(_token).balanceOf(address(this));
        if (balance > 0) {
            IConvexProxyERC20(_token).approve(_gauge, 0);
            IConvexProxyERC20(_token).approve(_gauge, balance);
            ICurveGaugeForConvex(_gauge).deposit(balance);
        }
        return true;
    }

    function withdraw(address _token, address _gauge, uint256 _amount) public returns (bool) {
        require(msg.sender == operator, "!auth");
        uint256 _balance = IConvexProxyERC20(_token).balanceOf(address(this));
        if (_balance < _amount) {
            _amount = _withdrawSome(_gauge, _amount - _balance) + _balance;
        }
        require(IConvexProxyERC20(_token).transfer(msg.sender, _amount));
        return true;
    }

    function _withdrawSome(address _gauge, uint256 _amount) internal returns (uint256) {
        ICurveGaugeForConvex(_gauge).withdraw(_amount);
        return _amount;
    }

    function claimCrv(address _gauge) external returns (uint256) {
        require(msg.sender == operator, "!auth");

        uint256 _balance = 0;
        try ICurveMinterForConvex(mintr).mint(_gauge) {
            _balance = IConvexProxyERC20(crv).balanceOf(address(this));
            require(IConvexProxyERC20(crv).transfer(operator, _balance));
        } catch {}

        return _balance;
    }

    function balanceOfPool(address _gauge) public view returns (uint256) {
        return ICurveGaugeForConvex(_gauge).balanceOf(address(this));
    }
}
