// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "./ERC20.sol";

/// @title TestERC20
/// @notice Mintable ERC-20 for local chains (USDC, WETH, DAI stand-ins). Only the
/// deployer can mint, so tests fund accounts explicitly.
contract TestERC20 is ERC20 {
    address public immutable owner;

    error NotOwner(address caller);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_, decimals_) {
        owner = msg.sender;
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _mint(to, amount);
    }
}
