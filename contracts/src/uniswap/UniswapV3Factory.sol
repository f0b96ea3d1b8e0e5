// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {UniswapConstantProductPool} from "./UniswapConstantProductPool.sol";

/// @title UniswapV3Factory
/// @notice Local stand-in for Uniswap V3's factory (Uniswap/v3-core, contracts/UniswapV3Factory.sol):
/// the same `getPool(tokenA, tokenB, fee)` lookup (either token order), `createPool` refusing
/// identical tokens, the zero address, a fee tier that is not enabled and an existing pool, and
/// the mainnet fee tiers (100, 500, 3000, 10000 hundredths of a bip). Leaves out: owner-managed
/// fee tiers (`enableFeeAmount`, `setOwner`), tick spacings, CREATE2 pool addresses (the pool is
/// a plain CREATE; the router and quoter look it up here instead of computing it). The pools are
/// `UniswapConstantProductPool`s, not concentrated-liquidity pools: see that contract.
contract UniswapV3Factory {
    mapping(uint24 fee => bool) public feeEnabled;
    mapping(address tokenA => mapping(address tokenB => mapping(uint24 fee => address))) public getPool;

    event PoolCreated(address indexed token0, address indexed token1, uint24 indexed fee, address pool);

    constructor() {
        feeEnabled[100] = true;
        feeEnabled[500] = true;
        feeEnabled[3000] = true;
        feeEnabled[10000] = true;
    }

    function createPool(address tokenA, address tokenB, uint24 fee) external returns (address pool) {
        require(tokenA != tokenB);
        (address token0, address token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        require(token0 != address(0));
        require(feeEnabled[fee]);
        require(getPool[token0][token1][fee] == address(0));
        pool = address(new UniswapConstantProductPool(token0, token1, fee));
        getPool[token0][token1][fee] = pool;
        getPool[token1][token0][fee] = pool;
        emit PoolCreated(token0, token1, fee, pool);
    }
}
