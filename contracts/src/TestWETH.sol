// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "./ERC20.sol";

/// @title TestWETH
/// @notice Local stand-in for WETH9: deposit() wraps the ETH sent, withdraw(wad) unwraps and
/// pays with a 2300-gas transfer as WETH9 does, plain ETH sent to it is wrapped (WETH9's
/// fallback), with WETH9's Deposit and Withdrawal events. Staking adapters unwrap the
/// treasury's WETH with it before staking and wrap what a burn or claim pays back.
/// Differs from the real token: the ERC-20 core is the local tokens' (OpenZeppelin's error
/// names instead of WETH9's bare requires; max allowance never decremented, as WETH9), and the
/// deployer may mint, as TestERC20's deployer does, so tests fund accounts explicitly. Minted
/// WETH is backed by ETH the local stack places on the contract at deployment, so it unwraps.
contract TestWETH is ERC20 {
    address public immutable owner;

    event Deposit(address indexed dst, uint256 wad);
    event Withdrawal(address indexed src, uint256 wad);

    error NotOwner(address caller);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_, decimals_) {
        owner = msg.sender;
    }

    receive() external payable {
        deposit();
    }

    function deposit() public payable {
        _mint(msg.sender, msg.value);
        emit Deposit(msg.sender, msg.value);
    }

    function withdraw(uint256 wad) external {
        _burn(msg.sender, wad);
        payable(msg.sender).transfer(wad);
        emit Withdrawal(msg.sender, wad);
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _mint(to, amount);
    }
}
