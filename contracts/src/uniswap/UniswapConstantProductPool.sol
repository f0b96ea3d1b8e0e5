// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IUniswapStandInERC20 {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @title UniswapConstantProductPool
/// @notice The local swap venue's pool: a constant-product (x * y = k) pool per (token0, token1,
/// fee), standing in for a Uniswap V3 pool (Uniswap/v3-core, contracts/UniswapV3Pool.sol) behind
/// SwapRouter02 and QuoterV2. It is NOT concentrated liquidity: there are no ticks or positions,
/// the liquidity is spread over the whole price range, as a V3 pool whose only position is
/// full-range. What it keeps of V3: token0 < token1 by address, the fee in hundredths of a bip
/// taken from the input (amountIn * (1e6 - fee) / 1e6 reaches the curve, rounded down as
/// SwapMath does, and the whole input stays in the pool), the output rounded down, the price
/// as sqrtPriceX96 = sqrt(reserve1 / reserve0) * 2^96 (`slot0().sqrtPriceX96`), a swap paid
/// for before it pays out (V3 checks the balance after its callback; here the router transfers
/// the input first and the pool checks it arrived), and `AS` for a zero amount. Leaves out:
/// ticks, positions and NFT liquidity, oracles (observations), protocol fees, flash loans, exact
/// output swaps and price limits (the router refuses a nonzero sqrtPriceLimitX96). Liquidity is
/// added by `addLiquidity` (pulled from the caller; no LP token: it is the deployer's seed).
contract UniswapConstantProductPool {
    address public immutable factory;
    address public immutable token0;
    address public immutable token1;
    uint24 public immutable fee;

    uint256 public reserve0;
    uint256 public reserve1;

    event Swap(address indexed sender, address indexed recipient, int256 amount0, int256 amount1, uint160 sqrtPriceX96);
    event Mint(address indexed sender, uint256 amount0, uint256 amount1);

    constructor(address token0_, address token1_, uint24 fee_) {
        factory = msg.sender;
        token0 = token0_;
        token1 = token1_;
        fee = fee_;
    }

    /// @notice Adds `amount0` and `amount1` to the pool, pulled from the caller (approve first).
    function addLiquidity(uint256 amount0, uint256 amount1) external {
        require(amount0 > 0 && amount1 > 0, "AS");
        require(IUniswapStandInERC20(token0).transferFrom(msg.sender, address(this), amount0), "STF");
        require(IUniswapStandInERC20(token1).transferFrom(msg.sender, address(this), amount1), "STF");
        reserve0 += amount0;
        reserve1 += amount1;
        emit Mint(msg.sender, amount0, amount1);
    }

    /// @notice What `amountIn` of the input token pays out now, after the fee.
    function quote(bool zeroForOne, uint256 amountIn) public view returns (uint256 amountOut) {
        require(amountIn > 0, "AS");
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        require(reserveIn > 0 && reserveOut > 0, "L");
        uint256 lessFee = amountIn * (1e6 - fee) / 1e6;
        amountOut = reserveOut * lessFee / (reserveIn + lessFee);
    }

    /// @notice Swaps `amountIn` of the input token, already transferred to the pool, paying the
    /// output to `recipient`. Returns the pool's balance changes, as V3's swap does (positive:
    /// paid in, negative: paid out).
    function swap(address recipient, bool zeroForOne, uint256 amountIn)
        external
        returns (int256 amount0, int256 amount1)
    {
        uint256 amountOut = quote(zeroForOne, amountIn);
        require(amountOut > 0, "AS");
        if (zeroForOne) {
            require(IUniswapStandInERC20(token0).balanceOf(address(this)) >= reserve0 + amountIn, "IIA");
            reserve0 += amountIn;
            reserve1 -= amountOut;
            require(IUniswapStandInERC20(token1).transfer(recipient, amountOut), "TF");
            (amount0, amount1) = (int256(amountIn), -int256(amountOut));
        } else {
            require(IUniswapStandInERC20(token1).balanceOf(address(this)) >= reserve1 + amountIn, "IIA");
            reserve1 += amountIn;
            reserve0 -= amountOut;
            require(IUniswapStandInERC20(token0).transfer(recipient, amountOut), "TF");
            (amount0, amount1) = (-int256(amountOut), int256(amountIn));
        }
        emit Swap(msg.sender, recipient, amount0, amount1, sqrtPriceX96());
    }

    /// @notice sqrt(reserve1 / reserve0) as a Q64.96, V3's price of token0 in token1.
    function sqrtPriceX96() public view returns (uint160) {
        if (reserve0 == 0) return 0;
        return uint160(_sqrt((reserve1 << 96) / reserve0 << 96));
    }

    function slot0() external view returns (uint160 sqrtPriceX96_, int24 tick, uint16, uint16, uint16, uint8, bool) {
        return (sqrtPriceX96(), 0, 0, 0, 0, 0, true);
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
