// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity 0.8.28;

/// @title Balancer V2's fixed-point, math and stable math, and its "BAL#" errors
/// @notice Follows balancer/balancer-v2-monorepo:
///   pkg/solidity-utils/contracts/math/FixedPoint.sol (mulDown, mulUp, divDown, divUp, complement),
///   pkg/solidity-utils/contracts/math/Math.sol (divDown, divUp),
///   pkg/pool-stable/contracts/StableMath.sol as ComposableStablePool (v5/v6) calls it: the invariant
///   always rounded down, and the current invariant passed in (_calcBptOutGivenExactTokensIn,
///   _calcTokenOutGivenExactBptIn, _getTokenBalanceGivenInvariantAndAllOtherBalances),
///   pkg/pool-utils/contracts/lib/BasePoolMath.sol (computeProportionalAmountsOut),
///   pkg/interfaces/contracts/solidity-utils/helpers/BalancerErrors.sol (codes, reverting
///   with Error("BAL#<code>") as the real `_revert` does).
/// Left out: the swap functions (_calcOutGivenIn/_calcInGivenOut), the joins and exits this
/// engine never makes (token in for exact BPT out, BPT in for exact tokens out, proportional
/// join) and the protocol fee math. Subtractions the real code makes with FixedPoint.sub revert
/// BAL#001 (SUB_OVERFLOW) as there (a one-token exit too small for the math's rounding does);
/// other arithmetic is solc 0.8's checked arithmetic: an overflow is a Panic here where the
/// real Math library reverts with BAL#000, BAL#003.

library BalancerErrors {
    uint256 internal constant SUB_OVERFLOW = 1;
    uint256 internal constant ZERO_DIVISION = 4;
    uint256 internal constant OUT_OF_BOUNDS = 100;
    uint256 internal constant UNSORTED_ARRAY = 101;
    uint256 internal constant INPUT_LENGTH_MISMATCH = 103;
    uint256 internal constant MIN_TOKENS = 200;
    uint256 internal constant MAX_SWAP_FEE_PERCENTAGE = 202;
    uint256 internal constant MIN_SWAP_FEE_PERCENTAGE = 203;
    uint256 internal constant MINIMUM_BPT = 204;
    uint256 internal constant CALLER_NOT_VAULT = 205;
    uint256 internal constant UNINITIALIZED = 206;
    uint256 internal constant BPT_OUT_MIN_AMOUNT = 208;
    uint256 internal constant MIN_AMP = 300;
    uint256 internal constant MAX_AMP = 301;
    uint256 internal constant MAX_STABLE_TOKENS = 303;
    uint256 internal constant UNHANDLED_JOIN_KIND = 310;
    uint256 internal constant STABLE_INVARIANT_DIDNT_CONVERGE = 321;
    uint256 internal constant STABLE_GET_BALANCE_DIDNT_CONVERGE = 322;
    uint256 internal constant UNHANDLED_EXIT_KIND = 336;
    uint256 internal constant REENTRANCY = 400;
    uint256 internal constant SENDER_NOT_ALLOWED = 401;
    uint256 internal constant ERC20_TRANSFER_EXCEEDS_ALLOWANCE = 414;
    uint256 internal constant ERC20_TRANSFER_EXCEEDS_BALANCE = 416;
    uint256 internal constant ERC20_BURN_EXCEEDS_BALANCE = 434;
    uint256 internal constant INVALID_POOL_ID = 500;
    uint256 internal constant CALLER_NOT_POOL = 501;
    uint256 internal constant EXIT_BELOW_MIN = 505;
    uint256 internal constant JOIN_ABOVE_MAX = 506;
    uint256 internal constant TOKENS_MISMATCH = 520;
    uint256 internal constant TOKENS_ALREADY_SET = 523;

    function check(bool condition, uint256 code) internal pure {
        if (!condition) fail(code);
    }

    /// Error("BAL#xyz"), the reason string the real `_revert(errorCode)` builds in assembly.
    function fail(uint256 code) internal pure {
        revert(
            string(
                abi.encodePacked(
                    "BAL#",
                    bytes1(uint8(48 + ((code / 100) % 10))),
                    bytes1(uint8(48 + ((code / 10) % 10))),
                    bytes1(uint8(48 + (code % 10)))
                )
            )
        );
    }
}

library BalancerFixedPoint {
    uint256 internal constant ONE = 1e18;

    function sub(uint256 a, uint256 b) internal pure returns (uint256) {
        BalancerErrors.check(b <= a, BalancerErrors.SUB_OVERFLOW);
        return a - b;
    }

    function mulDown(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * b) / ONE;
    }

    function mulUp(uint256 a, uint256 b) internal pure returns (uint256) {
        uint256 product = a * b;
        return product == 0 ? 0 : ((product - 1) / ONE) + 1;
    }

    function divDown(uint256 a, uint256 b) internal pure returns (uint256) {
        BalancerErrors.check(b != 0, BalancerErrors.ZERO_DIVISION);
        return a == 0 ? 0 : (a * ONE) / b;
    }

    function divUp(uint256 a, uint256 b) internal pure returns (uint256) {
        BalancerErrors.check(b != 0, BalancerErrors.ZERO_DIVISION);
        return a == 0 ? 0 : ((a * ONE - 1) / b) + 1;
    }

    function complement(uint256 x) internal pure returns (uint256) {
        return x < ONE ? ONE - x : 0;
    }
}

library BalancerMath {
    function divDown(uint256 a, uint256 b) internal pure returns (uint256) {
        BalancerErrors.check(b != 0, BalancerErrors.ZERO_DIVISION);
        return a / b;
    }

    function divUp(uint256 a, uint256 b) internal pure returns (uint256) {
        BalancerErrors.check(b != 0, BalancerErrors.ZERO_DIVISION);
        return a == 0 ? 0 : 1 + (a - 1) / b;
    }
}

library BalancerStableMath {
    using BalancerFixedPoint for uint256;

    uint256 internal constant MIN_AMP = 1;
    uint256 internal constant MAX_AMP = 5000;
    uint256 internal constant AMP_PRECISION = 1e3;
    uint256 internal constant MAX_STABLE_TOKENS = 5;

    /// D from A n^n S + D = A D n^n + D^(n+1) / (n^n P), Newton-Raphson, rounded down throughout.
    function calculateInvariant(uint256 amplificationParameter, uint256[] memory balances)
        internal
        pure
        returns (uint256)
    {
        uint256 sum = 0;
        uint256 numTokens = balances.length;
        for (uint256 i = 0; i < numTokens; i++) {
            sum = sum + balances[i];
        }
        if (sum == 0) {
            return 0;
        }

        uint256 prevInvariant;
        uint256 invariant = sum;
        uint256 ampTimesTotal = amplificationParameter * numTokens;

        for (uint256 i = 0; i < 255; i++) {
            uint256 D_P = invariant;
            for (uint256 j = 0; j < numTokens; j++) {
                D_P = BalancerMath.divDown(D_P * invariant, balances[j] * numTokens);
            }
            prevInvariant = invariant;
            invariant = BalancerMath.divDown(
                (BalancerMath.divDown(ampTimesTotal * sum, AMP_PRECISION) + D_P * numTokens) * invariant,
                BalancerMath.divDown((ampTimesTotal - AMP_PRECISION) * invariant, AMP_PRECISION)
                    + (numTokens + 1) * D_P
            );
            if (invariant > prevInvariant) {
                if (invariant - prevInvariant <= 1) {
                    return invariant;
                }
            } else if (prevInvariant - invariant <= 1) {
                return invariant;
            }
        }
        BalancerErrors.fail(BalancerErrors.STABLE_INVARIANT_DIDNT_CONVERGE);
    }

    function calcBptOutGivenExactTokensIn(
        uint256 amp,
        uint256[] memory balances,
        uint256[] memory amountsIn,
        uint256 bptTotalSupply,
        uint256 currentInvariant,
        uint256 swapFeePercentage
    ) internal pure returns (uint256) {
        // BPT out, so we round down overall.
        uint256 sumBalances = 0;
        for (uint256 i = 0; i < balances.length; i++) {
            sumBalances = sumBalances + balances[i];
        }

        uint256[] memory balanceRatiosWithFee = new uint256[](amountsIn.length);
        uint256 invariantRatioWithFees = 0;
        for (uint256 i = 0; i < balances.length; i++) {
            uint256 currentWeight = balances[i].divDown(sumBalances);
            balanceRatiosWithFee[i] = (balances[i] + amountsIn[i]).divDown(balances[i]);
            invariantRatioWithFees = invariantRatioWithFees + balanceRatiosWithFee[i].mulDown(currentWeight);
        }

        uint256[] memory newBalances = new uint256[](balances.length);
        for (uint256 i = 0; i < balances.length; i++) {
            uint256 amountInWithoutFee;
            // The part of a token's amount beyond the balanced join is a swap, and pays the swap fee.
            if (balanceRatiosWithFee[i] > invariantRatioWithFees) {
                uint256 nonTaxableAmount = balances[i].mulDown(invariantRatioWithFees.sub(BalancerFixedPoint.ONE));
                uint256 taxableAmount = amountsIn[i].sub(nonTaxableAmount);
                amountInWithoutFee =
                    nonTaxableAmount + taxableAmount.mulDown(BalancerFixedPoint.ONE - swapFeePercentage);
            } else {
                amountInWithoutFee = amountsIn[i];
            }
            newBalances[i] = balances[i] + amountInWithoutFee;
        }

        uint256 newInvariant = calculateInvariant(amp, newBalances);
        uint256 invariantRatio = newInvariant.divDown(currentInvariant);
        if (invariantRatio > BalancerFixedPoint.ONE) {
            return bptTotalSupply.mulDown(invariantRatio - BalancerFixedPoint.ONE);
        } else {
            return 0;
        }
    }

    function calcTokenOutGivenExactBptIn(
        uint256 amp,
        uint256[] memory balances,
        uint256 tokenIndex,
        uint256 bptAmountIn,
        uint256 bptTotalSupply,
        uint256 currentInvariant,
        uint256 swapFeePercentage
    ) internal pure returns (uint256) {
        // Token out, so we round down overall.
        uint256 newInvariant = bptTotalSupply.sub(bptAmountIn).divUp(bptTotalSupply).mulUp(currentInvariant);

        uint256 newBalanceTokenIndex =
            getTokenBalanceGivenInvariantAndAllOtherBalances(amp, balances, newInvariant, tokenIndex);
        uint256 amountOutWithoutFee = balances[tokenIndex].sub(newBalanceTokenIndex);

        uint256 sumBalances = 0;
        for (uint256 i = 0; i < balances.length; i++) {
            sumBalances = sumBalances + balances[i];
        }

        // The part of the exit beyond the token's own share is a swap: it pays the swap fee (on the way out).
        uint256 currentWeight = balances[tokenIndex].divDown(sumBalances);
        uint256 taxablePercentage = currentWeight.complement();
        uint256 taxableAmount = amountOutWithoutFee.mulUp(taxablePercentage);
        uint256 nonTaxableAmount = amountOutWithoutFee.sub(taxableAmount);

        return nonTaxableAmount + taxableAmount.mulDown(BalancerFixedPoint.ONE - swapFeePercentage);
    }

    /// The balance of `tokenIndex` that keeps `invariant` given the others; rounds up overall.
    function getTokenBalanceGivenInvariantAndAllOtherBalances(
        uint256 amplificationParameter,
        uint256[] memory balances,
        uint256 invariant,
        uint256 tokenIndex
    ) internal pure returns (uint256) {
        uint256 ampTimesTotal = amplificationParameter * balances.length;
        uint256 sum = balances[0];
        uint256 P_D = balances[0] * balances.length;
        for (uint256 j = 1; j < balances.length; j++) {
            P_D = BalancerMath.divDown(P_D * balances[j] * balances.length, invariant);
            sum = sum + balances[j];
        }
        sum = sum - balances[tokenIndex];

        uint256 inv2 = invariant * invariant;
        uint256 c = BalancerMath.divUp(inv2, ampTimesTotal * P_D) * AMP_PRECISION * balances[tokenIndex];
        uint256 b = sum + BalancerMath.divDown(invariant, ampTimesTotal) * AMP_PRECISION;

        uint256 prevTokenBalance = 0;
        uint256 tokenBalance = BalancerMath.divUp(inv2 + c, invariant + b);

        for (uint256 i = 0; i < 255; i++) {
            prevTokenBalance = tokenBalance;
            tokenBalance = BalancerMath.divUp(tokenBalance * tokenBalance + c, tokenBalance * 2 + b - invariant);
            if (tokenBalance > prevTokenBalance) {
                if (tokenBalance - prevTokenBalance <= 1) {
                    return tokenBalance;
                }
            } else if (prevTokenBalance - tokenBalance <= 1) {
                return tokenBalance;
            }
        }
        BalancerErrors.fail(BalancerErrors.STABLE_GET_BALANCE_DIDNT_CONVERGE);
    }

    /// BasePoolMath.computeProportionalAmountsOut: each balance times bptIn / supply, rounded down.
    function computeProportionalAmountsOut(uint256[] memory balances, uint256 totalSupply, uint256 bptAmountIn)
        internal
        pure
        returns (uint256[] memory amountsOut)
    {
        uint256 bptRatio = bptAmountIn.divDown(totalSupply);
        amountsOut = new uint256[](balances.length);
        for (uint256 i = 0; i < balances.length; i++) {
            amountsOut[i] = balances[i].mulDown(bptRatio);
        }
    }
}
