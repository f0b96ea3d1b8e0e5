// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {UniswapConstantProductPool, IUniswapStandInERC20} from "./UniswapConstantProductPool.sol";

interface IUniswapStandInFactory {
    function getPool(address tokenA, address tokenB, uint24 fee) external view returns (address);
}

/// @title UniswapSwapRouter02
/// @notice Local stand-in for Uniswap's SwapRouter02 (Uniswap/swap-router-contracts,
/// contracts/V3SwapRouter.sol and interfaces/IV3SwapRouter.sol): the same
/// `exactInputSingle((tokenIn, tokenOut, fee, recipient, amountIn, amountOutMinimum,
/// sqrtPriceLimitX96))` (SwapRouter02's struct has no deadline), payable, returning amountOut;
/// the recipient constants MSG_SENDER (address(1)) and ADDRESS_THIS (address(2)); the input
/// pulled from the caller (`STF` when the transfer fails, as TransferHelper says);
/// `Too little received` when the output is below amountOutMinimum. The pool is the factory's
/// constant-product stand-in (UniswapConstantProductPool), so the price impact is x * y = k's.
/// Leaves out: multi-hop paths (exactInput), exact output swaps, V2 routes, multicall,
/// CONTRACT_BALANCE (amountIn 0 reverts `AS`, as the V3 pool does), ETH wrapping, and price
/// limits (a nonzero sqrtPriceLimitX96 reverts `SPL`).
contract UniswapSwapRouter02 {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    address internal constant MSG_SENDER = address(1);
    address internal constant ADDRESS_THIS = address(2);

    address public immutable factory;

    constructor(address factory_) {
        factory = factory_;
    }

    function exactInputSingle(ExactInputSingleParams memory params) external payable returns (uint256 amountOut) {
        require(params.sqrtPriceLimitX96 == 0, "SPL");
        require(params.amountIn > 0, "AS");
        address recipient = params.recipient;
        if (recipient == MSG_SENDER) recipient = msg.sender;
        else if (recipient == ADDRESS_THIS) recipient = address(this);
        address pool = IUniswapStandInFactory(factory).getPool(params.tokenIn, params.tokenOut, params.fee);
        require(pool != address(0));
        (bool ok, bytes memory data) = params.tokenIn.call(
            abi.encodeCall(IUniswapStandInERC20.transferFrom, (msg.sender, pool, params.amountIn))
        );
        require(ok && (data.length == 0 || abi.decode(data, (bool))), "STF");
        bool zeroForOne = params.tokenIn < params.tokenOut;
        (int256 amount0, int256 amount1) =
            UniswapConstantProductPool(pool).swap(recipient, zeroForOne, params.amountIn);
        amountOut = uint256(-(zeroForOne ? amount1 : amount0));
        require(amountOut >= params.amountOutMinimum, "Too little received");
    }
}
