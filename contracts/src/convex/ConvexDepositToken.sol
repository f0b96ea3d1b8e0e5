// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "../ERC20.sol";

/// @title ConvexDepositToken (local stand-in)
/// @notice The Booster's receipt for a pool's LP tokens ("cvx" + the LP symbol), staked in
/// the pool's BaseRewardPool on the depositor's behalf.
/// Follows convex-eth/platform contracts/contracts/DepositToken.sol: `mint` and `burn` by
/// the operator (the Booster) only, "!authorized" otherwise, 18 decimals.
/// Left out: the TokenFactory that creates it (the Booster creates it itself).
contract ConvexDepositToken is ERC20 {
    address public operator;

    constructor(address _operator, string memory _name, string memory _symbol) ERC20(_name, _symbol, 18) {
        operator = _operator;
    }

    function mint(address _to, uint256 _amount) external {
        require(msg.sender == operator, "!authorized");
        _mint(_to, _amount);
    }

    function burn(address _from, uint256 _amount) external {
        require(msg.sender == operator, "!authorized");
        _burn(_from, _amount);
    }
}
