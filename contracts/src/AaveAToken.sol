// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadRayMath} from "./WadRayMath.sol";
import {TokenTransfer} from "./TokenTransfer.sol";

interface IAaveIncomeSource {
    function getReserveNormalizedIncome(address asset) external view returns (uint256);
}

/// @title AaveAToken
/// @notice Interest-bearing receipt of the Aave V3 stand-in (follows Aave V3.5). Like Aave it
/// stores scaled balances and holds the reserve's underlying; balanceOf grows with the pool's
/// liquidity index and rounds down (V3.5's getATokenBalance: rayMulFloor). Its errors are
/// Aave's own (CallerMustBePool, InvalidMintAmount, InvalidBurnAmount, OperationNotSupported);
/// a burn beyond the balance underflows (Panic 0x11), as Aave's does.
contract AaveAToken {
    using WadRayMath for uint256;

    address public immutable POOL;
    address public immutable UNDERLYING_ASSET_ADDRESS;
    string public name;
    string public symbol;
    uint8 public immutable decimals;

    mapping(address user => uint256) private _scaledBalances;
    uint256 private _scaledTotalSupply;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Mint(address indexed onBehalfOf, uint256 scaledAmount, uint256 index);
    event Burn(address indexed from, uint256 scaledAmount, uint256 index);

    error CallerMustBePool();
    error InvalidMintAmount();
    error InvalidBurnAmount();
    error OperationNotSupported();

    modifier onlyPool() {
        if (msg.sender != POOL) revert CallerMustBePool();
        _;
    }

    constructor(address pool, address underlying, string memory name_, string memory symbol_, uint8 decimals_) {
        POOL = pool;
        UNDERLYING_ASSET_ADDRESS = underlying;
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    function _index() private view returns (uint256) {
        return IAaveIncomeSource(POOL).getReserveNormalizedIncome(UNDERLYING_ASSET_ADDRESS);
    }

    function balanceOf(address user) external view returns (uint256) {
        return _scaledBalances[user].rayMulFloor(_index());
    }

    function scaledBalanceOf(address user) external view returns (uint256) {
        return _scaledBalances[user];
    }

    function getScaledUserBalanceAndSupply(address user) external view returns (uint256, uint256) {
        return (_scaledBalances[user], _scaledTotalSupply);
    }

    function totalSupply() external view returns (uint256) {
        return _scaledTotalSupply.rayMulFloor(_index());
    }

    function scaledTotalSupply() external view returns (uint256) {
        return _scaledTotalSupply;
    }

    /// @dev The pool has already rounded the amount to scaled units (down, rayDivFloor).
    function mint(address onBehalfOf, uint256 scaledAmount) external onlyPool {
        if (scaledAmount == 0) revert InvalidMintAmount();
        uint256 index = _index();
        _scaledBalances[onBehalfOf] += scaledAmount;
        _scaledTotalSupply += scaledAmount;
        emit Mint(onBehalfOf, scaledAmount, index);
        emit Transfer(address(0), onBehalfOf, scaledAmount.rayMulFloor(index));
    }

    /// @dev The pool has already rounded the amount to scaled units (up, rayDivCeil).
    function burn(address from, uint256 scaledAmount) external onlyPool {
        if (scaledAmount == 0) revert InvalidBurnAmount();
        uint256 index = _index();
        _scaledBalances[from] -= scaledAmount;
        _scaledTotalSupply -= scaledAmount;
        emit Burn(from, scaledAmount, index);
        emit Transfer(from, address(0), scaledAmount.rayMulFloor(index));
    }

    /// @dev Liquidity lives here, as in Aave; the pool releases it on withdraw/borrow.
    function transferUnderlyingTo(address target, uint256 amount) external onlyPool {
        TokenTransfer.safeTransfer(UNDERLYING_ASSET_ADDRESS, target, amount);
    }

    // aToken transfers are not needed by the engine (it supplies and withdraws from
    // its own executor), and supporting them would mean Aave's health-factor checks,
    // which this stand-in does not model.
    function transfer(address, uint256) external pure returns (bool) {
        revert OperationNotSupported();
    }

    function transferFrom(address, address, uint256) external pure returns (bool) {
        revert OperationNotSupported();
    }

    function approve(address, uint256) external pure returns (bool) {
        revert OperationNotSupported();
    }

    function allowance(address, address) external pure returns (uint256) {
        return 0;
    }
}
