"""Balancer V2's stable math in Python, integer for integer, for the tests: FixedPoint and Math
(balancer-v2-monorepo pkg/solidity-utils/contracts/math), StableMath as ComposableStablePool v5+
calls it (pkg/pool-stable/contracts/StableMath.sol), and the pool's scaling around it (upscale
mulDown, amounts in downscaled up, amounts out down). The tests check it against the contracts."""

from __future__ import annotations

from collections.abc import Sequence

ONE = 10**18
AMP_PRECISION = 1_000


def mul_down(a: int, b: int) -> int:
    return a * b // ONE


def mul_up(a: int, b: int) -> int:
    p = a * b
    return 0 if p == 0 else (p - 1) // ONE + 1


def div_down(a: int, b: int) -> int:
    assert b != 0, "BAL#004"
    return 0 if a == 0 else a * ONE // b


def div_up(a: int, b: int) -> int:
    assert b != 0, "BAL#004"
    return 0 if a == 0 else (a * ONE - 1) // b + 1


def raw_div_up(a: int, b: int) -> int:
    return 0 if a == 0 else 1 + (a - 1) // b


def complement(x: int) -> int:
    return ONE - x if x < ONE else 0


def calculate_invariant(amp: int, balances: Sequence[int]) -> int:
    """`amp` is A x AMP_PRECISION, as the pool stores it; rounded down throughout."""
    total = sum(balances)
    if total == 0:
        return 0
    n = len(balances)
    invariant = total
    amp_times_total = amp * n
    for _ in range(255):
        d_p = invariant
        for b in balances:
            d_p = d_p * invariant // (b * n)
        prev = invariant
        invariant = ((amp_times_total * total // AMP_PRECISION + d_p * n) * invariant) // (
            (amp_times_total - AMP_PRECISION) * invariant // AMP_PRECISION + (n + 1) * d_p
        )
        if abs(invariant - prev) <= 1:
            return invariant
    raise ArithmeticError("BAL#321")


def token_balance_given_invariant(amp: int, balances: Sequence[int], invariant: int, index: int) -> int:
    n = len(balances)
    amp_times_total = amp * n
    total = balances[0]
    p_d = balances[0] * n
    for j in range(1, n):
        p_d = p_d * balances[j] * n // invariant
        total += balances[j]
    total -= balances[index]
    inv2 = invariant * invariant
    c = raw_div_up(inv2, amp_times_total * p_d) * AMP_PRECISION * balances[index]
    b = total + invariant // amp_times_total * AMP_PRECISION
    balance = raw_div_up(inv2 + c, invariant + b)
    for _ in range(255):
        prev = balance
        balance = raw_div_up(balance * balance + c, balance * 2 + b - invariant)
        if abs(balance - prev) <= 1:
            return balance
    raise ArithmeticError("BAL#322")


def bpt_out_given_exact_tokens_in(
    amp: int, balances: Sequence[int], amounts_in: Sequence[int], supply: int, invariant: int, fee: int
) -> int:
    total = sum(balances)
    ratios = []
    invariant_ratio_with_fees = 0
    for b, a in zip(balances, amounts_in, strict=True):
        weight = div_down(b, total)
        ratio = div_down(b + a, b)
        ratios.append(ratio)
        invariant_ratio_with_fees += mul_down(ratio, weight)
    new_balances = []
    for b, a, ratio in zip(balances, amounts_in, ratios, strict=True):
        if ratio > invariant_ratio_with_fees:
            non_taxable = mul_down(b, invariant_ratio_with_fees - ONE)
            a = non_taxable + mul_down(a - non_taxable, ONE - fee)
        new_balances.append(b + a)
    ratio = div_down(calculate_invariant(amp, new_balances), invariant)
    return mul_down(supply, ratio - ONE) if ratio > ONE else 0


def token_out_given_exact_bpt_in(
    amp: int, balances: Sequence[int], index: int, bpt_in: int, supply: int, invariant: int, fee: int
) -> int:
    new_invariant = mul_up(div_up(supply - bpt_in, supply), invariant)
    new_balance = token_balance_given_invariant(amp, balances, new_invariant, index)
    out_without_fee = balances[index] - new_balance
    weight = div_down(balances[index], sum(balances))
    taxable = mul_up(out_without_fee, complement(weight))
    return out_without_fee - taxable + mul_down(taxable, ONE - fee)


def proportional_out(balances: Sequence[int], supply: int, bpt_in: int) -> list[int]:
    ratio = div_down(bpt_in, supply)
    return [mul_down(b, ratio) for b in balances]


class StablePool:
    """A composable stable pool's state as the Vault and the pool hold it (BPT excluded):
    raw balances in base units, their scaling factors, the virtual supply, amp (x1000), swap fee."""

    def __init__(self, balances: Sequence[int], scaling: Sequence[int], supply: int, amp: int, fee: int):
        self.balances, self.scaling, self.supply, self.amp, self.fee = list(balances), list(scaling), supply, amp, fee

    @property
    def upscaled(self) -> list[int]:
        return [mul_down(b, s) for b, s in zip(self.balances, self.scaling, strict=True)]

    def invariant(self) -> int:
        return calculate_invariant(self.amp, self.upscaled)

    def rate(self) -> int:
        return div_down(self.invariant(), self.supply)

    def join(self, amounts_in: Sequence[int]) -> int:
        """EXACT_TOKENS_IN_FOR_BPT_OUT: the BPT minted."""
        up = [mul_down(a, s) for a, s in zip(amounts_in, self.scaling, strict=True)]
        return bpt_out_given_exact_tokens_in(self.amp, self.upscaled, up, self.supply, self.invariant(), self.fee)

    def exit_one(self, bpt_in: int, index: int) -> int:
        """EXACT_BPT_IN_FOR_ONE_TOKEN_OUT: what the token pays, downscaled down."""
        out = token_out_given_exact_bpt_in(
            self.amp, self.upscaled, index, bpt_in, self.supply, self.invariant(), self.fee
        )
        return div_down(out, self.scaling[index])

    def exit_all(self, bpt_in: int) -> list[int]:
        """EXACT_BPT_IN_FOR_ALL_TOKENS_OUT: what each token pays, downscaled down."""
        return [
            div_down(a, s)
            for a, s in zip(proportional_out(self.upscaled, self.supply, bpt_in), self.scaling, strict=True)
        ]
