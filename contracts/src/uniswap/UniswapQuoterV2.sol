// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {UniswapConstantProductPool} from "./UniswapConstantProductPool.sol";
import {IUniswapStandInFactory} from "./UniswapSwapRouter02.sol";

/// @title UniswapQuoterV2
/// @notice Local stand-in for Uniswap's QuoterV2 (Uniswap/v3-periphery,
/// contracts/lens/QuoterV2.sol): the same `quoteExactInputSingle((tokenIn, tokenOut, amountIn,
/// fee, sqrtPriceLimitX96))` returning (amountOut, sqrtPriceX96After, initializedTicksCrossed,
/// gasEstimate), and not a view, as QuoterV2's is not (the real one runs the swap and reverts
/// inside it): call it with eth_call, e.g. in a Multicall3 batch. The amount is the pool's
/// constant-product output after the fee, exactly what UniswapSwapRouter02 would pay in the
/// same state; sqrtPriceX96After is the pool's price after that swap; no ticks are crossed
/// (0); gasEstimate is a fixed figure of the router's swap. Reverts on a pool that does not
/// exist (the real quoter's call to a missing pool fails) and a nonzero price limit (`SPL`).
/// Leaves out: multi-hop paths, exact output quotes.
contract UniswapQuoterV2 {
    struct QuoteExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint256 amountIn;
        uint24 fee;
        uint160 sqrtPriceLimitX96;
    }

    uint256 internal constant GAS_ESTIMATE = 90_000;

    address public immutable factory;
    uint256 private quotes; // written by each quote, so it is not a view, as QuoterV2's is not

    constructor(address factory_) {
        factory = factory_;
    }

    function quoteExactInputSingle(QuoteExactInputSingleParams memory params)
        public
        returns (uint256 amountOut, uint160 sqrtPriceX96After, uint32 initializedTicksCrossed, uint256 gasEstimate)
    {
        require(params.sqrtPriceLimitX96 == 0, "SPL");
        address pool = IUniswapStandInFactory(factory).getPool(params.tokenIn, params.tokenOut, params.fee);
        require(pool != address(0));
        UniswapConstantProductPool p = UniswapConstantProductPool(pool);
        bool zeroForOne = params.tokenIn < params.tokenOut;
        amountOut = p.quote(zeroForOne, params.amountIn);
        (uint256 r0, uint256 r1) = (p.reserve0(), p.reserve1());
        (r0, r1) = zeroForOne ? (r0 + params.amountIn, r1 - amountOut) : (r0 - amountOut, r1 + params.amountIn);
        sqrtPriceX96After = uint160(_sqrt(((r1 << 96) / r0) << 96));
        initializedTicksCrossed = 0;
        gasEstimate = GAS_ESTIMATE;
        quotes += 1;
    }

    function _sqrt(uint256 x) private pure returns (uint256 z) {
        if (x == 0) return 0;
        z = x;
        uint256 y = x / 2 + 1;
        while (y < z) {
            z = y;
            y = (x / y + y) / 2;
        }
    }
}
