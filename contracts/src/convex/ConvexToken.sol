// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "../ERC20.sol";

interface IConvexStaker {
    function operator() external view returns (address);
}

/// @title ConvexToken (local stand-in)
/// @notice CVX, minted by the Booster per CRV an LP claims, less as supply grows.
/// Follows convex-eth/platform contracts/contracts/Cvx.sol (ConvexToken, as deployed):
/// maxSupply 100M, totalCliffs 1000, reductionPerCliff = maxSupply / totalCliffs (100,000
/// CVX); `mint` by the operator only (anyone else's call returns without minting), the
/// first mint is the premine and switches the operator to the voter proxy's operator (the
/// Booster); after it, `amount * (totalCliffs - supply / reductionPerCliff) / totalCliffs`,
/// capped at what is left under maxSupply, nothing past the last cliff.
/// Left out: nothing of mint's schedule; the ERC-20 is the local one (OpenZeppelin's errors).
contract ConvexToken is ERC20 {
    address public operator;
    address public vecrvProxy;

    uint256 public maxSupply = 100 * 1000000 * 1e18; //100mil
    uint256 public totalCliffs = 1000;
    uint256 public reductionPerCliff;

    constructor(address _proxy) ERC20("Convex Token", "CVX", 18) {
        operator = msg.sender;
        vecrvProxy = _proxy;
        reductionPerCliff = maxSupply / totalCliffs;
    }

    //get current operator off proxy incase there was a change
    function updateOperator() public {
        operator = IConvexStaker(vecrvProxy).operator();
    }

    function mint(address _to, uint256 _amount) external {
        if (msg.sender != operator) {
            //dont error just return. if a shutdown happens, rewards on old system
            //can still be claimed, just wont mint cvx
            return;
        }

        uint256 supply = totalSupply;
        if (supply == 0) {
            //premine, one time only
            _mint(_to, _amount);
            //automatically switch operators
            updateOperator();
            return;
        }

        //use current supply to gauge cliff
        //this will cause a bit of overflow into the next cliff range
        //but should be within reasonable levels.
        //requires a max supply check though
        uint256 cliff = supply / reductionPerCliff;
        //mint if below total cliffs
        if (cliff < totalCliffs) {
            //for reduction% take inverse of current cliff
            uint256 reduction = totalCliffs - cliff;
            //reduce
            _amount = _amount * reduction / totalCliffs;

            //supply cap check
            uint256 amtTillMax = maxSupply - supply;
            if (_amount > amtTillMax) {
                _amount = amtTillMax;
            }

            //mint
            _mint(_to, _amount);
        }
    }
}
