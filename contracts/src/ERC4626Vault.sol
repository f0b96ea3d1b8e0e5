// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "./ERC20.sol";
import {TokenTransfer, IERC20Like} from "./TokenTransfer.sol";

/// @title ERC4626Vault
/// @notice ERC-4626 vault stand-in for the engine's vault markets (MetaMorpho-, sDAI-like).
/// Models: the standard's ABI with OpenZeppelin's rounding (virtual share and asset of 1,
/// decimals offset 0) and its errors (ERC4626ExceededMax*); yield and illiquidity from one
/// admin-controlled loan: lent assets earn simple interest and count towards totalAssets,
/// but cannot be withdrawn until repaid, which is what caps maxWithdraw/maxRedeem; an
/// optional cap on total assets, which caps maxDeposit/maxMint as a MetaMorpho vault's
/// market caps do. `setMetaMorphoErrors(true)` makes it revert as MetaMorpho does instead of
/// OpenZeppelin's checks: withdraw and redeem skip the max* check and revert
/// `NotEnoughLiquidity()` when idle assets fall short, deposit and mint revert
/// `AllCapsReached()` past the cap (MetaMorpho's ErrorsLib; its previews ignore liquidity too).
/// Leaves out: how a real vault places its assets and what limits its liquidity (MetaMorpho
/// allocates across Morpho Blue markets through supply and withdraw queues, and its
/// liquidity is theirs; sDAI holds the DSR, whose liquidity is never short: here both are
/// one loan, so the sDAI stand-in can be illiquid where sDAI is not), fees, curators,
/// timelocks, the DSR's rate accumulator, and permit. Idle assets are what this vault can
/// pay out; the engine reads liquidity from maxWithdraw, never from idle assets.
contract ERC4626Vault is ERC20 {
    uint256 internal constant WAD = 1e18;

    address public immutable asset;
    address public immutable admin;

    /// @notice Outstanding loan (principal plus interest) as of `lastAccrual`.
    uint256 public debtStored;
    uint256 public lastAccrual;
    uint256 public borrowRatePerSecondWad;
    address public borrower;
    /// @notice Most total assets the vault takes deposits up to; 0: no cap.
    uint256 public depositCap;
    /// @notice Revert as MetaMorpho does (NotEnoughLiquidity, AllCapsReached), not as OpenZeppelin.
    bool public metaMorphoErrors;

    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);
    event Withdraw(
        address indexed sender, address indexed receiver, address indexed owner, uint256 assets, uint256 shares
    );
    event Lent(address indexed borrower, uint256 assets, uint256 debtAfter);
    event Repaid(address indexed payer, uint256 assets, uint256 debtAfter);
    event BorrowRateChanged(uint256 previousRatePerSecondWad, uint256 nextRatePerSecondWad);
    event DepositCapChanged(uint256 previousCap, uint256 nextCap);

    error NotAdmin(address caller);
    error ZeroAmount();
    error InsufficientIdle(uint256 requested, uint256 idle);
    error ERC4626ExceededMaxDeposit(address receiver, uint256 assets, uint256 max);
    error ERC4626ExceededMaxMint(address receiver, uint256 shares, uint256 max);
    error ERC4626ExceededMaxWithdraw(address owner, uint256 assets, uint256 max);
    error ERC4626ExceededMaxRedeem(address owner, uint256 shares, uint256 max);
    error NotEnoughLiquidity();
    error AllCapsReached();

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    // Decimals offset 0: shares use the asset's decimals.
    constructor(address asset_, string memory name_, string memory symbol_, address admin_)
        ERC20(name_, symbol_, IERC20Like(asset_).decimals())
    {
        if (asset_ == address(0) || admin_ == address(0)) revert ZeroAddress();
        asset = asset_;
        admin = admin_;
        lastAccrual = block.timestamp;
    }

    // ---------------------------------------------------------------- accounting

    function idleAssets() public view returns (uint256) {
        return IERC20Like(asset).balanceOf(address(this));
    }

    /// @notice Loan balance including interest accrued up to this block.
    function debt() public view returns (uint256) {
        uint256 d = debtStored;
        // A node may estimate on a pending block older than its latest (anvil after a revert):
        // no time has passed then, rather than an underflow.
        if (d == 0 || borrowRatePerSecondWad == 0 || block.timestamp <= lastAccrual) return d;
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

    /// @notice Unlimited without a cap; else what is left under it.
    function maxDeposit(address) public view returns (uint256) {
        if (depositCap == 0) return type(uint256).max;
        uint256 total = totalAssets();
        return total < depositCap ? depositCap - total : 0;
    }

    function maxMint(address receiver) public view returns (uint256) {
        uint256 assets = maxDeposit(receiver);
        return assets == type(uint256).max ? assets : _toShares(assets, false);
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
        uint256 max = maxDeposit(receiver);
        if (assets > max) {
            if (metaMorphoErrors) revert AllCapsReached();
            revert ERC4626ExceededMaxDeposit(receiver, assets, max);
        }
        shares = previewDeposit(assets);
        _deposit(receiver, assets, shares);
    }

    function mint(uint256 shares, address receiver) external returns (uint256 assets) {
        uint256 max = maxMint(receiver);
        if (shares > max) {
            if (metaMorphoErrors) revert AllCapsReached();
            revert ERC4626ExceededMaxMint(receiver, shares, max);
        }
        assets = previewMint(shares);
        _deposit(receiver, assets, shares);
    }

    function withdraw(uint256 assets, address receiver, address owner) external returns (uint256 shares) {
        uint256 max = maxWithdraw(owner);
        if (assets > max && !metaMorphoErrors) revert ERC4626ExceededMaxWithdraw(owner, assets, max);
        shares = previewWithdraw(assets);
        _withdraw(receiver, owner, assets, shares);
    }

    function redeem(uint256 shares, address receiver, address owner) external returns (uint256 assets) {
        uint256 max = maxRedeem(owner);
        if (shares > max && !metaMorphoErrors) revert ERC4626ExceededMaxRedeem(owner, shares, max);
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

    function setDepositCap(uint256 cap) external onlyAdmin {
        emit DepositCapChanged(depositCap, cap);
        depositCap = cap;
    }

    function setMetaMorphoErrors(bool on) external onlyAdmin {
        metaMorphoErrors = on;
    }

    function setBorrowRate(uint256 ratePerSecondWad) external onlyAdmin {
        // Interest up to now is owed at the old rate.
        _accrue();
        emit BorrowRateChanged(borrowRatePerSecondWad, ratePerSecondWad);
        borrowRatePerSecondWad = ratePerSecondWad;
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
        _mint(receiver, shares);
        emit Deposit(msg.sender, receiver, assets, shares);
    }

    function _withdraw(address receiver, address owner, uint256 assets, uint256 shares) private {
        if (receiver == address(0)) revert ZeroAddress();
        // MetaMorpho withdraws from its markets first: short of liquidity, NotEnoughLiquidity.
        if (metaMorphoErrors && assets > idleAssets()) revert NotEnoughLiquidity();
        if (msg.sender != owner) _spendAllowance(owner, msg.sender, shares);
        _burn(owner, shares);
        TokenTransfer.safeTransfer(asset, receiver, assets);
        emit Withdraw(msg.sender, receiver, owner, assets, shares);
    }
}
