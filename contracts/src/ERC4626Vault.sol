// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TokenTransfer, IERC20Like} from "./TokenTransfer.sol";

/// @title ERC4626Vault
/// @notice ERC-4626 vault stand-in for the engine's vault venues (MetaMorpho- or
/// sDAI-like). Yield and illiquidity come from an admin-controlled loan: lent assets
/// earn simple interest, count towards totalAssets, but cannot be withdrawn until
/// repaid, which is what caps maxWithdraw/maxRedeem.
contract ERC4626Vault {
    uint256 internal constant WAD = 1e18;

    address public immutable asset;
    address public immutable admin;
    string public name;
    string public symbol;
    uint8 public immutable decimals;

    uint256 public totalSupply;
    mapping(address account => uint256) public balanceOf;
    mapping(address holder => mapping(address spender => uint256)) public allowance;

    /// @notice Outstanding loan (principal plus interest) as of `lastAccrual`.
    uint256 public debtStored;
    uint256 public lastAccrual;
    uint256 public borrowRatePerSecondWad;
    address public borrower;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);
    event Withdraw(
        address indexed sender, address indexed receiver, address indexed owner, uint256 assets, uint256 shares
    );
    event Lent(address indexed borrower, uint256 assets, uint256 debtAfter);
    event Repaid(address indexed payer, uint256 assets, uint256 debtAfter);
    event BorrowRateChanged(uint256 previousRatePerSecondWad, uint256 nextRatePerSecondWad);

    error NotAdmin(address caller);
    error ZeroAddress();
    error ZeroAmount();
    error InsufficientIdle(uint256 requested, uint256 idle);
    error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
    error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    error ERC4626ExceededMaxWithdraw(address owner, uint256 assets, uint256 max);
    error ERC4626ExceededMaxRedeem(address owner, uint256 shares, uint256 max);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    constructor(address asset_, string memory name_, string memory symbol_, address admin_) {
        if (asset_ == address(0) || admin_ == address(0)) revert ZeroAddress();
        asset = asset_;
        admin = admin_;
        name = name_;
        symbol = symbol_;
        // Decimals offset 0: shares use the asset's decimals.
        decimals = IERC20Like(asset_).decimals();
        lastAccrual = block.timestamp;
    }

    // ---------------------------------------------------------------- accounting

    function idleAssets() public view returns (uint256) {
        return IERC20Like(asset).balanceOf(address(this));
    }

    /// @notice Loan balance including interest accrued up to this block.
    function debt() public view returns (uint256) {
        uint256 d = debtStored;
        if (d == 0 || borrowRatePerSecondWad == 0) return d;
        return d + d * borrowRatePerSecondWad * (block.timestamp - lastAccrual) / WAD;
    }

    function totalAssets() public view returns (uint256) {
        return idleAssets() + debt();
    }

    // Virtual share and asset of 1 (OpenZeppelin's offset 0) blunt donation/inflation
    // games on an empty vault. Products stay far below 2^256 for realistic amounts.
    function convertToShares(uint256 assets) public view returns (uint256) {
        return _toShares(assets, false);
    }

    function convertToAssets(uint256 shares) public view returns (uint256) {
        return _toAssets(shares, false);
    }

    function maxDeposit(address) external pure returns (uint256) {
        return type(uint256).max;
    }

    function maxMint(address) external pure returns (uint256) {
        return type(uint256).max;
    }

    /// @notice Capped by idle assets: lent-out funds cannot be withdrawn.
    function maxWithdraw(address owner) public view returns (uint256) {
        uint256 owned = _toAssets(balanceOf[owner], false);
        uint256 idle = idleAssets();
        return owned < idle ? owned : idle;
    }

    function maxRedeem(address owner) public view returns (uint256) {
        uint256 owned = balanceOf[owner];
        uint256 idleShares = _toShares(idleAssets(), false);
        return owned < idleShares ? owned : idleShares;
    }

    function previewDeposit(uint256 assets) public view returns (uint256) {
        return _toShares(assets, false);
    }

    function previewMint(uint256 shares) public view returns (uint256) {
        return _toAssets(shares, true);
    }

    function previewWithdraw(uint256 assets) public view returns (uint256) {
        return _toShares(assets, true);
    }

    function previewRedeem(uint256 shares) public view returns (uint256) {
        return _toAssets(shares, false);
    }

    // ---------------------------------------------------------------- ERC-4626 actions

    function deposit(uint256 assets, address receiver) external returns (uint256 shares) {
        shares = previewDeposit(assets);
        _deposit(receiver, assets, shares);
    }

    function mint(uint256 shares, address receiver) external returns (uint256 assets) {
        assets = previewMint(shares);
        _deposit(receiver, assets, shares);
    }

    function withdraw(uint256 assets, address receiver, address owner) external returns (uint256 shares) {
        uint256 max = maxWithdraw(owner);
        if (assets > max) revert ERC4626ExceededMaxWithdraw(owner, assets, max);
        shares = previewWithdraw(assets);
        _withdraw(receiver, owner, assets, shares);
    }

    function redeem(uint256 shares, address receiver, address owner) external returns (uint256 assets) {
        uint256 max = maxRedeem(owner);
        if (shares > max) revert ERC4626ExceededMaxRedeem(owner, shares, max);
        assets = previewRedeem(shares);
        _withdraw(receiver, owner, assets, shares);
    }

    // ---------------------------------------------------------------- loan (liquidity model)

    /// @notice Moves idle assets to a borrower; they keep earning for shareholders.
    function lend(uint256 assets, address borrower_) external onlyAdmin {
        if (borrower_ == address(0)) revert ZeroAddress();
        if (assets == 0) revert ZeroAmount();
        uint256 idle = idleAssets();
        if (assets > idle) revert InsufficientIdle(assets, idle);
        _accrue();
        debtStored += assets;
        borrower = borrower_;
        TokenTransfer.safeTransfer(asset, borrower_, assets);
        emit Lent(borrower_, assets, debtStored);
    }

    /// @notice Anyone may repay; amounts above the debt are capped to it.
    function repay(uint256 assets) external returns (uint256 repaid) {
        if (assets == 0) revert ZeroAmount();
        _accrue();
        repaid = assets < debtStored ? assets : debtStored;
        if (repaid == 0) revert ZeroAmount();
        debtStored -= repaid;
        TokenTransfer.safeTransferFrom(asset, msg.sender, address(this), repaid);
        emit Repaid(msg.sender, repaid, debtStored);
    }

    function setBorrowRate(uint256 ratePerSecondWad) external onlyAdmin {
        // Interest up to now is owed at the old rate.
        _accrue();
        emit BorrowRateChanged(borrowRatePerSecondWad, ratePerSecondWad);
        borrowRatePerSecondWad = ratePerSecondWad;
    }

    // ---------------------------------------------------------------- ERC-20 shares

    function approve(address spender, uint256 amount) external returns (bool) {
        if (spender == address(0)) revert ZeroAddress();
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spendAllowance(from, msg.sender, amount);
        _transfer(from, to, amount);
        return true;
    }

    // ---------------------------------------------------------------- internals

    function _toShares(uint256 assets, bool roundUp) private view returns (uint256) {
        return _mulDiv(assets, totalSupply + 1, totalAssets() + 1, roundUp);
    }

    function _toAssets(uint256 shares, bool roundUp) private view returns (uint256) {
        return _mulDiv(shares, totalAssets() + 1, totalSupply + 1, roundUp);
    }

    function _mulDiv(uint256 x, uint256 y, uint256 d, bool roundUp) private pure returns (uint256 r) {
        uint256 p = x * y;
        r = p / d;
        if (roundUp && p % d != 0) r += 1;
    }

    function _accrue() private {
        debtStored = debt();
        lastAccrual = block.timestamp;
    }

    function _deposit(address receiver, uint256 assets, uint256 shares) private {
        if (receiver == address(0)) revert ZeroAddress();
        // Pull before minting so share price is computed on pre-deposit assets.
        TokenTransfer.safeTransferFrom(asset, msg.sender, address(this), assets);
        totalSupply += shares;
        unchecked {
            balanceOf[receiver] += shares;
        }
        emit Transfer(address(0), receiver, shares);
        emit Deposit(msg.sender, receiver, assets, shares);
    }

    function _withdraw(address receiver, address owner, uint256 assets, uint256 shares) private {
        if (receiver == address(0)) revert ZeroAddress();
        if (msg.sender != owner) _spendAllowance(owner, msg.sender, shares);
        uint256 bal = balanceOf[owner];
        if (bal < shares) revert ERC20InsufficientBalance(owner, bal, shares);
        unchecked {
            balanceOf[owner] = bal - shares;
            totalSupply -= shares;
        }
        emit Transfer(owner, address(0), shares);
        TokenTransfer.safeTransfer(asset, receiver, assets);
        emit Withdraw(msg.sender, receiver, owner, assets, shares);
    }

    function _spendAllowance(address owner, address spender, uint256 amount) private {
        uint256 allowed = allowance[owner][spender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert ERC20InsufficientAllowance(spender, allowed, amount);
            unchecked {
                allowance[owner][spender] = allowed - amount;
            }
        }
    }

    function _transfer(address from, address to, uint256 amount) private {
        if (to == address(0)) revert ZeroAddress();
        uint256 bal = balanceOf[from];
        if (bal < amount) revert ERC20InsufficientBalance(from, bal, amount);
        unchecked {
            balanceOf[from] = bal - amount;
            balanceOf[to] += amount;
        }
        emit Transfer(from, to, amount);
    }
}
