"""Curve StableSwap's invariant in Python, integer for integer, written for the tests from
Curve's own sources, so what the stand-in pools quote can be checked against it:

- old pools: curvefi/curve-contract contracts/pools/3pool/StableSwap3Pool.vy (`get_D` with
  `Ann = A * N`, `get_y`, `get_y_D`, `_calc_withdraw_one_coin` with the fixed fee
  `fee * N / (4 (N - 1))`, `get_dy` with the fee on the output);
- Stableswap-NG: curvefi/stableswap-ng contracts/main/CurveStableSwapNG.vy (A scaled by
  A_PRECISION = 100, `D_P` divided by N**N once per round, the dynamic fee that grows off
  peg by `offpeg_fee_multiplier`, applied on averaged balances).

A pool's state is its balances (base units), its rates (10**(36 - decimals) each), A, the
fee and the LP supply. Vyper's `/` on uint256 is floor division, so `//` throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

FEE_DENOMINATOR = 10**10
PRECISION = 10**18
A_PRECISION = 100


@dataclass(frozen=True)
class Pool:
    balances: tuple[int, ...]  # what the pool counts as its coins' (admin fees excluded), base units
    decimals: tuple[int, ...]
    amp: int  # A as the pool's constructor took it (NG: unscaled)
    fee: int  # * 1e10
    supply: int  # LP tokens
    ng: bool
    offpeg_fee_multiplier: int = 0  # NG only, * 1e10

    @property
    def n(self) -> int:
        return len(self.balances)

    @property
    def rates(self) -> list[int]:
        return [10 ** (36 - d) for d in self.decimals]

    @property
    def xp(self) -> list[int]:
        return [r * b // PRECISION for r, b in zip(self.rates, self.balances, strict=True)]

    @property
    def amp_used(self) -> int:
        """A as the math takes it: NG keeps A * A_PRECISION."""
        return self.amp * A_PRECISION if self.ng else self.amp


def _converged(new: int, old: int) -> bool:
    return abs(new - old) <= 1


def get_D(xp: list[int], amp: int, ng: bool) -> int:
    n = len(xp)
    s = sum(xp)
    if s == 0:
        return 0
    d = s
    ann = amp * n
    for _ in range(255):
        d_p = d
        if ng:
            for x in xp:
                d_p = d_p * d // x
            d_p //= n**n
        else:
            for x in xp:
                d_p = d_p * d // (x * n)
        prev = d
        if ng:
            d = (ann * s // A_PRECISION + d_p * n) * d // ((ann - A_PRECISION) * d // A_PRECISION + (n + 1) * d_p)
        else:
            d = (ann * s + d_p * n) * d // ((ann - 1) * d + (n + 1) * d_p)
        if _converged(d, prev):
            return d
    if ng:
        raise ArithmeticError("get_D did not converge")  # NG raises; the old pool returns the last D
    return d


def _solve_y(c: int, b: int, d: int, ng: bool) -> int:
    y = d
    for _ in range(255):
        prev = y
        y = (y * y + c) // (2 * y + b - d)
        if _converged(y, prev):
            return y
    if ng:
        raise ArithmeticError("y did not converge")
    return y


def get_y(i: int, j: int, x: int, xp: list[int], amp: int, d: int, ng: bool) -> int:
    """x[j] when x[i] becomes x, D held."""
    n = len(xp)
    assert i != j and 0 <= i < n and 0 <= j < n
    c, s, ann = d, 0, amp * n
    for k in range(n):
        if k == i:
            xk = x
        elif k != j:
            xk = xp[k]
        else:
            continue
        s += xk
        c = c * d // (xk * n)
    if ng:
        c = c * d * A_PRECISION // (ann * n)
        b = s + d * A_PRECISION // ann
    else:
        c = c * d // (ann * n)
        b = s + d // ann
    return _solve_y(c, b, d, ng)


def get_y_D(amp: int, i: int, xp: list[int], d: int, ng: bool) -> int:
    """x[i] when D falls to d, the other balances held."""
    n = len(xp)
    c, s, ann = d, 0, amp * n
    for k in range(n):
        if k == i:
            continue
        s += xp[k]
        c = c * d // (xp[k] * n)
    if ng:
        c = c * d * A_PRECISION // (ann * n)
        b = s + d * A_PRECISION // ann
    else:
        c = c * d // (ann * n)
        b = s + d // ann
    return _solve_y(c, b, d, ng)


def dynamic_fee(xpi: int, xpj: int, fee: int, multiplier: int) -> int:
    if multiplier <= FEE_DENOMINATOR:
        return fee
    xps2 = (xpi + xpj) ** 2
    return multiplier * fee // ((multiplier - FEE_DENOMINATOR) * 4 * xpi * xpj // xps2 + FEE_DENOMINATOR)


def virtual_price(pool: Pool) -> int:
    return get_D(pool.xp, pool.amp_used, pool.ng) * PRECISION // pool.supply


def calc_withdraw_one_coin(pool: Pool, burn: int, i: int) -> tuple[int, int]:
    """(dy, fee): what burning `burn` LP pays in coin i, and the fee kept (in coin i's units)."""
    amp, ng, n = pool.amp_used, pool.ng, pool.n
    rates, xp = pool.rates, pool.xp
    d0 = get_D(xp, amp, ng)
    d1 = d0 - burn * d0 // pool.supply
    new_y = get_y_D(amp, i, xp, d1, ng)
    base_fee = pool.fee * n // (4 * (n - 1))
    ys = (d0 + d1) // (2 * n)
    reduced = list(xp)
    for j in range(n):
        if j == i:
            expected = xp[j] * d1 // d0 - new_y
            xavg = (xp[j] + new_y) // 2
        else:
            expected = xp[j] - xp[j] * d1 // d0
            xavg = xp[j]
        fee = dynamic_fee(xavg, ys, base_fee, pool.offpeg_fee_multiplier) if ng else base_fee
        reduced[j] = xp[j] - fee * expected // FEE_DENOMINATOR
    dy = reduced[i] - get_y_D(amp, i, reduced, d1, ng)
    if ng:
        dy_0 = (xp[i] - new_y) * PRECISION // rates[i]
        dy = (dy - 1) * PRECISION // rates[i]
    else:
        precision = rates[i] // PRECISION  # PRECISION_MUL
        dy_0 = (xp[i] - new_y) // precision
        dy = (dy - 1) // precision
    return dy, dy_0 - dy


def get_dy(pool: Pool, i: int, j: int, dx: int) -> int:
    amp, ng = pool.amp_used, pool.ng
    rates, xp = pool.rates, pool.xp
    x = xp[i] + dx * rates[i] // PRECISION
    d = get_D(xp, amp, ng)
    y = get_y(i, j, x, xp, amp, d, ng)
    dy = xp[j] - y - 1
    if ng:
        fee = dynamic_fee((xp[i] + x) // 2, (xp[j] + y) // 2, pool.fee, pool.offpeg_fee_multiplier)
        return (dy - fee * dy // FEE_DENOMINATOR) * PRECISION // rates[j]
    dy = dy * PRECISION // rates[j]
    return dy - pool.fee * dy // FEE_DENOMINATOR


def add_liquidity(pool: Pool, amounts: list[int]) -> int:
    """The LP tokens `amounts` mint (the pool's supply > 0)."""
    amp, ng, n = pool.amp_used, pool.ng, pool.n
    rates = pool.rates
    old = list(pool.balances)
    new = [b + a for b, a in zip(old, amounts, strict=True)]

    def d_of(balances: list[int]) -> int:
        return get_D([r * b // PRECISION for r, b in zip(rates, balances, strict=True)], amp, ng)

    d0, d1 = d_of(old), d_of(new)
    base_fee = pool.fee * n // (4 * (n - 1))
    ys = (d0 + d1) // n
    for k in range(n):
        ideal = d1 * old[k] // d0
        difference = abs(ideal - new[k])
        if ng:
            xs = rates[k] * (old[k] + new[k]) // PRECISION
            fee = dynamic_fee(xs, ys, base_fee, pool.offpeg_fee_multiplier)
        else:
            fee = base_fee
        new[k] -= fee * difference // FEE_DENOMINATOR
    d2 = d_of(new)
    return pool.supply * (d2 - d0) // d0


def min_burn(pool: Pool, amount: int, i: int) -> int:
    """The fewest LP tokens whose one-coin exit pays at least `amount` of coin i (by bisection
    over `calc_withdraw_one_coin`, which grows with the burn)."""

    def pays(burn: int) -> int:
        try:
            return calc_withdraw_one_coin(pool, burn, i)[0] if burn > 0 else 0
        except ArithmeticError:
            return 0

    lo, hi = 0, pool.supply - 1
    assert pays(hi) >= amount, "the pool cannot pay it"
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pays(mid) >= amount else (mid, hi)
    return hi
