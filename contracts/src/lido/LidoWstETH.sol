// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {LidoStETH} from "./LidoStETH.sol";

/// @title LidoWstETH
/// @notice Local stand-in for Lido's WstETH (contracts/0.6.12/WstETH.sol): a non-rebasing
/// ERC-20 whose balance is a number of stETH shares. wrap/unwrap, the ETH shortcut (plain ETH
/// is submitted to stETH and wrapped), getWstETHByStETH/getStETHByWstETH, stEthPerToken and
/// tokensPerStEth are the real code, so the real rounding holds: wrap mints
/// getSharesByPooledEth(_stETHAmount) and pulls _stETHAmount stETH; unwrap sends
/// getPooledEthByShares(_wstETHAmount) stETH, which moves getSharesByPooledEth of that (the
/// 1-2 wei corner case stays in the wrapper, as on mainnet). The ERC-20 core is
/// OpenZeppelin 3.4's, with its revert strings and its allowance always decremented (3.4 has
/// no infinite allowance).
/// Differs from the real protocol: no EIP-2612 permit (ERC20Permit's permit, nonces,
/// DOMAIN_SEPARATOR).
contract LidoWstETH {
    LidoStETH public immutable stETH;

    string public constant name = "Wrapped liquid staked Ether 2.0";
    string public constant symbol = "wstETH";
    uint8 public constant decimals = 18;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(address _stETH) {
        stETH = LidoStETH(payable(_stETH));
    }

    function wrap(uint256 _stETHAmount) external returns (uint256) {
        require(_stETHAmount > 0, "wstETH: can't wrap zero stETH");
        uint256 wstETHAmount = stETH.getSharesByPooledEth(_stETHAmount);
        _mint(msg.sender, wstETHAmount);
        stETH.transferFrom(msg.sender, address(this), _stETHAmount);
        return wstETHAmount;
    }

    function unwrap(uint256 _wstETHAmount) external returns (uint256) {
        require(_wstETHAmount > 0, "wstETH: zero amount unwrap not allowed");
        uint256 stETHAmount = stETH.getPooledEthByShares(_wstETHAmount);
        _burn(msg.sender, _wstETHAmount);
        stETH.transfer(msg.sender, stETHAmount);
        return stETHAmount;
    }

    /// @notice Shortcut to stake ETH and auto-wrap returned stETH.
    receive() external payable {
        uint256 shares = stETH.submit{value: msg.value}(address(0));
        _mint(msg.sender, shares);
    }

    function getWstETHByStETH(uint256 _stETHAmount) external view returns (uint256) {
        return stETH.getSharesByPooledEth(_stETHAmount);
    }

    function getStETHByWstETH(uint256 _wstETHAmount) external view returns (uint256) {
        return stETH.getPooledEthByShares(_wstETHAmount);
    }

    function stEthPerToken() external view returns (uint256) {
        return stETH.getPooledEthByShares(1 ether);
    }

    function tokensPerStEth() external view returns (uint256) {
        return stETH.getSharesByPooledEth(1 ether);
    }

    // ---------------------------------------------------------------- ERC-20 (OpenZeppelin 3.4)

    function transfer(address recipient, uint256 amount) external returns (bool) {
        _transfer(msg.sender, recipient, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address sender, address recipient, uint256 amount) external returns (bool) {
        _transfer(sender, recipient, amount);
        uint256 allowed = allowance[sender][msg.sender];
        require(allowed >= amount, "ERC20: transfer amount exceeds allowance");
        _approve(sender, msg.sender, allowed - amount);
        return true;
    }

    function increaseAllowance(address spender, uint256 addedValue) external returns (bool) {
        _approve(msg.sender, spender, allowance[msg.sender][spender] + addedValue);
        return true;
    }

    function decreaseAllowance(address spender, uint256 subtractedValue) external returns (bool) {
        uint256 allowed = allowance[msg.sender][spender];
        require(allowed >= subtractedValue, "ERC20: decreased allowance below zero");
        _approve(msg.sender, spender, allowed - subtractedValue);
        return true;
    }

    function _transfer(address sender, address recipient, uint256 amount) private {
        require(sender != address(0), "ERC20: transfer from the zero address");
        require(recipient != address(0), "ERC20: transfer to the zero address");
        uint256 bal = balanceOf[sender];
        require(bal >= amount, "ERC20: transfer amount exceeds balance");
        balanceOf[sender] = bal - amount;
        balanceOf[recipient] += amount;
        emit Transfer(sender, recipient, amount);
    }

    function _mint(address account, uint256 amount) private {
        require(account != address(0), "ERC20: mint to the zero address");
        totalSupply += amount;
        balanceOf[account] += amount;
        emit Transfer(address(0), account, amount);
    }

    function _burn(address account, uint256 amount) private {
        require(account != address(0), "ERC20: burn from the zero address");
        uint256 bal = balanceOf[account];
        require(bal >= amount, "ERC20: burn amount exceeds balance");
        balanceOf[account] = bal - amount;
        totalSupply -= amount;
        emit Transfer(account, address(0), amount);
    }

    function _approve(address owner, address spender, uint256 amount) private {
        require(owner != address(0), "ERC20: approve from the zero address");
        require(spender != address(0), "ERC20: approve to the zero address");
        allowance[owner][spender] = amount;
        emit Approval(owner, spender, amount);
    }
}
