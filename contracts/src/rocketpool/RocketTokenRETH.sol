// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RocketBase} from "./RocketBase.sol";
import {RocketStorage} from "./RocketStorage.sol";
import {RocketDepositPool} from "./RocketDepositPool.sol";
import {RocketNetworkBalances} from "./RocketNetworkBalances.sol";

/// @title RocketTokenRETH
/// @notice Local stand-in for Rocket Pool's rETH (RocketTokenRETH, unchanged on mainnet since
/// launch). The real code: getEthValue/getRethValue/getExchangeRate from the network balances
/// last submitted (totalETH / rETH supply as reported, 1:1 before any report), rounding down;
/// getTotalCollateral = ETH held by this contract + the deposit pool's excess balance;
/// getCollateralRate; mint by the deposit pool only; burn(_rethAmount) checks the amount,
/// the holder's balance and the collateral ("Insufficient ETH balance for exchange"), pulls
/// what this contract lacks from the deposit pool's excess, and pays with a 2300-gas
/// transfer as the real one does; ETH sent to it (minipool rewards) is collateral. The ERC-20
/// core is OpenZeppelin 3.x's, with its revert strings and its allowance always decremented.
/// Differs from the real protocol: depositExcessCollateral (recycling collateral above the
/// target rate to the deposit pool) and the pre-Atlas deposit delay check are not modelled.
contract RocketTokenRETH is RocketBase {
    string public constant name = "Rocket Pool ETH";
    string public constant symbol = "rETH";
    uint8 public constant decimals = 18;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event EtherDeposited(address indexed from, uint256 amount, uint256 time);
    event TokensMinted(address indexed to, uint256 amount, uint256 ethAmount, uint256 time);
    event TokensBurned(address indexed from, uint256 amount, uint256 ethAmount, uint256 time);

    constructor(RocketStorage _rocketStorageAddress) RocketBase(_rocketStorageAddress) {
        version = 1;
    }

    /// @notice Receive an ETH deposit from a minipool or generous individual
    receive() external payable {
        emit EtherDeposited(msg.sender, msg.value, block.timestamp);
    }

    /// @notice Calculate the amount of ETH backing an amount of rETH
    function getEthValue(uint256 _rethAmount) public view returns (uint256) {
        RocketNetworkBalances rocketNetworkBalances =
            RocketNetworkBalances(getContractAddress("rocketNetworkBalances"));
        uint256 totalEthBalance = rocketNetworkBalances.getTotalETHBalance();
        uint256 rethSupply = rocketNetworkBalances.getTotalRETHSupply();
        // Use 1:1 ratio if no rETH is minted
        if (rethSupply == 0) return _rethAmount;
        return _rethAmount * totalEthBalance / rethSupply;
    }

    /// @notice Calculate the amount of rETH backed by an amount of ETH
    function getRethValue(uint256 _ethAmount) public view returns (uint256) {
        RocketNetworkBalances rocketNetworkBalances =
            RocketNetworkBalances(getContractAddress("rocketNetworkBalances"));
        uint256 totalEthBalance = rocketNetworkBalances.getTotalETHBalance();
        uint256 rethSupply = rocketNetworkBalances.getTotalRETHSupply();
        // Use 1:1 ratio if no rETH is minted
        if (rethSupply == 0) return _ethAmount;
        require(totalEthBalance > 0, "Cannot calculate rETH token amount while total network balance is zero");
        return _ethAmount * rethSupply / totalEthBalance;
    }

    /// @notice The amount of ETH backing 1 rETH
    function getExchangeRate() external view returns (uint256) {
        return getEthValue(1 ether);
    }

    /// @notice Collateral available: this contract's balance and the deposit pool's excess
    function getTotalCollateral() public view returns (uint256) {
        RocketDepositPool rocketDepositPool = RocketDepositPool(getContractAddress("rocketDepositPool"));
        return rocketDepositPool.getExcessBalance() + address(this).balance;
    }

    /// @notice The portion of rETH backed by ETH in the contract as a fraction of 1 ether
    function getCollateralRate() public view returns (uint256) {
        uint256 totalEthValue = getEthValue(totalSupply);
        if (totalEthValue == 0) return calcBase;
        return calcBase * address(this).balance / totalEthValue;
    }

    /// @notice Deposit excess ETH from deposit pool (deposit pool only)
    function depositExcess() external payable onlyLatestContract("rocketDepositPool", msg.sender) {
        emit EtherDeposited(msg.sender, msg.value, block.timestamp);
    }

    /// @notice Mint rETH (deposit pool only)
    function mint(uint256 _ethAmount, address _to) external onlyLatestContract("rocketDepositPool", msg.sender) {
        uint256 rethAmount = getRethValue(_ethAmount);
        require(rethAmount > 0, "Invalid token mint amount");
        _mint(_to, rethAmount);
        emit TokensMinted(_to, rethAmount, _ethAmount, block.timestamp);
    }

    /// @notice Burn rETH for ETH
    function burn(uint256 _rethAmount) external {
        require(_rethAmount > 0, "Invalid token burn amount");
        require(balanceOf[msg.sender] >= _rethAmount, "Insufficient rETH balance");
        uint256 ethAmount = getEthValue(_rethAmount);
        uint256 ethBalance = getTotalCollateral();
        require(ethBalance >= ethAmount, "Insufficient ETH balance for exchange");
        _burn(msg.sender, _rethAmount);
        _withdrawDepositCollateral(ethAmount);
        payable(msg.sender).transfer(ethAmount);
        emit TokensBurned(msg.sender, _rethAmount, ethAmount, block.timestamp);
    }

    function _withdrawDepositCollateral(uint256 _ethRequired) private {
        uint256 ethBalance = address(this).balance;
        if (ethBalance >= _ethRequired) return;
        RocketDepositPool rocketDepositPool = RocketDepositPool(getContractAddress("rocketDepositPool"));
        rocketDepositPool.withdrawExcessBalance(_ethRequired - ethBalance);
    }

    // ---------------------------------------------------------------- ERC-20 (OpenZeppelin 3.x)

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
