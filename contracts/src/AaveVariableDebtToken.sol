// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadRayMath} from "./WadRayMath.sol";

interface IAaveDebtSource {
    function getReserveNormalizedVariableDebt(address asset) external view returns (uint256);
}

/// @title AaveVariableDebtToken
/// @notice Variable debt token of the Aave V3 stand-in (follows Aave V3.5). Like Aave's it
/// stores scaled debt: the pool mints and burns scaled amounts it has already rounded
/// (borrows mint up, repayments burn down), and balances grow with the variable borrow
/// index, rounding up (V3.5's getVTokenBalance: rayMulCeil). The pool reads its
/// scaledTotalSupply for the treasury's accrual, as Aave's ReserveLogic.cache does. Debt
/// tokens cannot be transferred or approved (Aave's OperationNotSupported). The stand-in pool
/// deploys one per reserve in initReserve (on Aave the PoolConfigurator deploys it).
contract AaveVariableDebtToken {
    using WadRayMath for uint256;

    address public immutable POOL;
    address public immutable UNDERLYING_ASSET_ADDRESS;
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

    constructor(address pool, address underlying, uint8 decimals_) {
        POOL = pool;
        UNDERLYING_ASSET_ADDRESS = underlying;
        decimals = decimals_;
    }

    function _index() private view returns (uint256) {
        return IAaveDebtSource(POOL).getReserveNormalizedVariableDebt(UNDERLYING_ASSET_ADDRESS);
    }

    function balanceOf(address user) external view returns (uint256) {
        return _scaledBalances[user].rayMulCeil(_index());
    }

    function scaledBalanceOf(address user) external view returns (uint256) {
        return _scaledBalances[user];
    }

    function getScaledUserBalanceAndSupply(address user) external view returns (uint256, uint256) {
        return (_scaledBalances[user], _scaledTotalSupply);
    }

    function totalSupply() external view returns (uint256) {
        return _scaledTotalSupply.rayMulCeil(_index());
    }

    function scaledTotalSupply() external view returns (uint256) {
        return _scaledTotalSupply;
    }

    /// @dev The pool has already rounded the amount to scaled units (up, rayDivCeil).
    function mint(address onBehalfOf, uint256 scaledAmount) external onlyPool {
        if (scaledAmount == 0) revert InvalidMintAmount();
        uint256 index = _index();
        _scaledBalances[onBehalfOf] += scaledAmount;
        _scaledTotalSupply += scaledAmount;
        emit Mint(onBehalfOf, scaledAmount, index);
        emit Transfer(address(0), onBehalfOf, scaledAmount.rayMulCeil(index));
    }

    /// @dev The pool has already rounded the amount to scaled units (down, rayDivFloor).
    function burn(address from, uint256 scaledAmount) external onlyPool {
        if (scaledAmount == 0) revert InvalidBurnAmount();
        uint256 index = _index();
        _scaledBalances[from] -= scaledAmount;
        _scaledTotalSupply -= scaledAmount;
        emit Burn(from, scaledAmount, index);
        emit Transfer(from, address(0), scaledAmount.rayMulFloor(index));
    }

    // Debt is not transferable on Aave.
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
