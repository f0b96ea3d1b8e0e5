# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title CurveStableSwap3Pool (local stand-in)
@notice An old-style, fixed-size Curve StableSwap pool for DAI/USDC/USDT (18/6/6 decimals),
    its LP token a separate CurveTokenV3 it mints and burns.
    Follows curvefi/curve-contract contracts/pools/3pool/StableSwap3Pool.vy (Vyper 0.2.4),
    ported to Vyper 0.4 with its math verbatim: `get_D`, `get_y`, `get_y_D`,
    `_calc_withdraw_one_coin` (the fixed fee `fee * N / (4 (N - 1))` on the imbalance),
    `calc_token_amount` (no fees), `get_dy`, `get_virtual_price`; `add_liquidity(uint256[3],
    min_mint_amount)`, `remove_liquidity(_amount, min_amounts[3])`,
    `remove_liquidity_imbalance`, `remove_liquidity_one_coin(_token_amount, int128 i,
    min_amount)`, `exchange(int128, int128, dx, min_dy)`, with the same revert strings.
    The admin fee share of each fee is kept out of `balances`, as the real pool does, and
    `withdraw_admin_fees` pays it to the owner.
    Left out: ramping A (`ramp_A`, `stop_ramp_A`: A is fixed), the timelocked fee and
    ownership changes, kill/unkill, `get_dy_underlying`, and USDT's fee-on-transfer
    handling (the local USDT charges none).
"""

from ethereum.ercs import IERC20

interface CurveToken:
    def totalSupply() -> uint256: view
    def mint(_to: address, _value: uint256) -> bool: nonpayable
    def burnFrom(_to: address, _value: uint256) -> bool: nonpayable


event TokenExchange:
    buyer: indexed(address)
    sold_id: int128
    tokens_sold: uint256
    bought_id: int128
    tokens_bought: uint256

event AddLiquidity:
    provider: indexed(address)
    token_amounts: uint256[N_COINS]
    fees: uint256[N_COINS]
    invariant: uint256
    token_supply: uint256

event RemoveLiquidity:
    provider: indexed(address)
    token_amounts: uint256[N_COINS]
    fees: uint256[N_COINS]
    token_supply: uint256

event RemoveLiquidityOne:
    provider: indexed(address)
    token_amount: uint256
    coin_amount: uint256

event RemoveLiquidityImbalance:
    provider: indexed(address)
    token_amounts: uint256[N_COINS]
    fees: uint256[N_COINS]
    invariant: uint256
    token_supply: uint256


N_COINS: constant(int128) = 3
N: constant(uint256) = 3

FEE_DENOMINATOR: constant(uint256) = 10 ** 10
LENDING_PRECISION: constant(uint256) = 10 ** 18
PRECISION: constant(uint256) = 10 ** 18
PRECISION_MUL: constant(uint256[N_COINS]) = [1, 1000000000000, 1000000000000]
RATES: constant(uint256[N_COINS]) = [1000000000000000000, 1000000000000000000000000000000, 1000000000000000000000000000000]

MAX_ADMIN_FEE: constant(uint256) = 10 * 10 ** 9
MAX_FEE: constant(uint256) = 5 * 10 ** 9
MAX_A: constant(uint256) = 10 ** 6

coins: public(address[N_COINS])
balances: public(uint256[N_COINS])
fee: public(uint256)  # fee * 1e10
admin_fee: public(uint256)  # admin_fee * 1e10
owner: public(address)
token: CurveToken
initial_A: public(uint256)
future_A: public(uint256)


@deploy
def __init__(
    _owner: address,
    _coins: address[N_COINS],
    _pool_token: address,
    _A: uint256,
    _fee: uint256,
    _admin_fee: uint256
):
    for i: int128 in range(N_COINS):
        assert _coins[i] != empty(address)
    assert _A > 0 and _A < MAX_A
    assert _fee <= MAX_FEE
    assert _admin_fee <= MAX_ADMIN_FEE
    self.coins = _coins
    self.initial_A = _A
    self.future_A = _A
    self.fee = _fee
    self.admin_fee = _admin_fee
    self.owner = _owner
    self.token = CurveToken(_pool_token)


@view
@internal
def _A() -> uint256:
    return self.future_A  # no ramping in the stand-in


@view
@external
def A() -> uint256:
    return self._A()


@view
@external
def lp_token() -> address:
    return self.token.address


@view
@internal
def _xp() -> uint256[N_COINS]:
    result: uint256[N_COINS] = RATES
    for i: int128 in range(N_COINS):
        result[i] = result[i] * self.balances[i] // LENDING_PRECISION
    return result


@pure
@internal
def _xp_mem(_balances: uint256[N_COINS]) -> uint256[N_COINS]:
    result: uint256[N_COINS] = RATES
    for i: int128 in range(N_COINS):
        result[i] = result[i] * _balances[i] // PRECISION
    return result


@pure
@internal
def _get_D(xp: uint256[N_COINS], amp: uint256) -> uint256:
    S: uint256 = 0
    for _x: uint256 in xp:
        S += _x
    if S == 0:
        return 0

    Dprev: uint256 = 0
    D: uint256 = S
    Ann: uint256 = amp * N
    for _i: uint256 in range(255):
        D_P: uint256 = D
        for _x: uint256 in xp:
            D_P = D_P * D // (_x * N)  # If division by 0, this will be borked: only withdrawal will work. And that is good
        Dprev = D
        D = (Ann * S + D_P * N) * D // ((Ann - 1) * D + (N + 1) * D_P)
        # Equality with the precision of 1
        if D > Dprev:
            if D - Dprev <= 1:
                break
        else:
            if Dprev - D <= 1:
                break
    return D


@view
@internal
def _get_D_mem(_balances: uint256[N_COINS], amp: uint256) -> uint256:
    return self._get_D(self._xp_mem(_balances), amp)


@view
@external
def get_virtual_price() -> uint256:
    """
    Returns portfolio virtual price (for calculating profit)
    scaled up by 1e18
    """
    D: uint256 = self._get_D(self._xp(), self._A())
    # D is in the units similar to DAI (e.g. converted to precision 1e18)
    # When balanced, D = n * x_u - total virtual value of the portfolio
    token_supply: uint256 = staticcall self.token.totalSupply()
    return D * PRECISION // token_supply


@view
@external
def calc_token_amount(amounts: uint256[N_COINS], deposit: bool) -> uint256:
    """
    Simplified method to calculate addition or reduction in token supply at
    deposit or withdrawal without taking fees into account (but looking at
    slippage).
    Needed to prevent front-running, not for precise calculations!
    """
    _balances: uint256[N_COINS] = self.balances
    amp: uint256 = self._A()
    D0: uint256 = self._get_D_mem(_balances, amp)
    for i: int128 in range(N_COINS):
        if deposit:
            _balances[i] += amounts[i]
        else:
            _balances[i] -= amounts[i]
    D1: uint256 = self._get_D_mem(_balances, amp)
    token_amount: uint256 = staticcall self.token.totalSupply()
    diff: uint256 = 0
    if deposit:
        diff = D1 - D0
    else:
        diff = D0 - D1
    return diff * token_amount // D0


@external
@nonreentrant
def add_liquidity(amounts: uint256[N_COINS], min_mint_amount: uint256):
    fees: uint256[N_COINS] = empty(uint256[N_COINS])
    _fee: uint256 = self.fee * N // (4 * (N - 1))
    _admin_fee: uint256 = self.admin_fee
    amp: uint256 = self._A()

    token_supply: uint256 = staticcall self.token.totalSupply()
    # Initial invariant
    D0: uint256 = 0
    old_balances: uint256[N_COINS] = self.balances
    if token_supply > 0:
        D0 = self._get_D_mem(old_balances, amp)
    new_balances: uint256[N_COINS] = old_balances

    for i: int128 in range(N_COINS):
        in_amount: uint256 = amounts[i]
        if token_supply == 0:
            assert in_amount > 0  # dev: initial deposit requires all coins
        # Take coins from the sender
        if in_amount > 0:
            assert extcall IERC20(self.coins[i]).transferFrom(msg.sender, self, in_amount, default_return_value=True)
        new_balances[i] = old_balances[i] + in_amount

    # Invariant after change
    D1: uint256 = self._get_D_mem(new_balances, amp)
    assert D1 > D0

    # We need to recalculate the invariant accounting for fees
    # to calculate fair user's share
    D2: uint256 = D1
    if token_supply > 0:
        # Only account for fees if we are not the first to deposit
        for i: int128 in range(N_COINS):
            ideal_balance: uint256 = D1 * old_balances[i] // D0
            difference: uint256 = 0
            if ideal_balance > new_balances[i]:
                difference = ideal_balance - new_balances[i]
            else:
                difference = new_balances[i] - ideal_balance
            fees[i] = _fee * difference // FEE_DENOMINATOR
            self.balances[i] = new_balances[i] - (fees[i] * _admin_fee // FEE_DENOMINATOR)
            new_balances[i] -= fees[i]
        D2 = self._get_D_mem(new_balances, amp)
    else:
        self.balances = new_balances

    # Calculate, how much pool tokens to mint
    mint_amount: uint256 = 0
    if token_supply == 0:
        mint_amount = D1  # Take the dust if there was any
    else:
        mint_amount = token_supply * (D2 - D0) // D0

    assert mint_amount >= min_mint_amount, "Slippage screwed you"

    # Mint pool tokens
    extcall self.token.mint(msg.sender, mint_amount)

    log AddLiquidity(provider=msg.sender, token_amounts=amounts, fees=fees, invariant=D1, token_supply=token_supply + mint_amount)


@view
@internal
def _get_y(i: int128, j: int128, x: uint256, xp_: uint256[N_COINS]) -> uint256:
    # x in the input is converted to the same price/precision

    assert i != j       # dev: same coin
    assert j >= 0       # dev: j below zero
    assert j < N_COINS  # dev: j above N_COINS

    # should be unreachable, but good for safety
    assert i >= 0
    assert i < N_COINS

    amp: uint256 = self._A()
    D: uint256 = self._get_D(xp_, amp)
    c: uint256 = D
    S_: uint256 = 0
    Ann: uint256 = amp * N

    _x: uint256 = 0
    for _i: int128 in range(N_COINS):
        if _i == i:
            _x = x
        elif _i != j:
            _x = xp_[_i]
        else:
            continue
        S_ += _x
        c = c * D // (_x * N)
    c = c * D // (Ann * N)
    b: uint256 = S_ + D // Ann  # - D
    y_prev: uint256 = 0
    y: uint256 = D
    for _i: uint256 in range(255):
        y_prev = y
        y = (y*y + c) // (2 * y + b - D)
        # Equality with the precision of 1
        if y > y_prev:
            if y - y_prev <= 1:
                break
        else:
            if y_prev - y <= 1:
                break
    return y


@view
@external
def get_dy(i: int128, j: int128, dx: uint256) -> uint256:
    # dx and dy in c-units
    rates: uint256[N_COINS] = RATES
    xp: uint256[N_COINS] = self._xp()

    x: uint256 = xp[i] + (dx * rates[i] // PRECISION)
    y: uint256 = self._get_y(i, j, x, xp)
    dy: uint256 = (xp[j] - y - 1) * PRECISION // rates[j]
    _fee: uint256 = self.fee * dy // FEE_DENOMINATOR
    return dy - _fee


@external
@nonreentrant
def exchange(i: int128, j: int128, dx: uint256, min_dy: uint256):
    rates: uint256[N_COINS] = RATES

    old_balances: uint256[N_COINS] = self.balances
    xp: uint256[N_COINS] = self._xp_mem(old_balances)

    assert extcall IERC20(self.coins[i]).transferFrom(msg.sender, self, dx, default_return_value=True)

    x: uint256 = xp[i] + dx * rates[i] // PRECISION
    y: uint256 = self._get_y(i, j, x, xp)

    dy: uint256 = xp[j] - y - 1  # -1 just in case there were some rounding errors
    dy_fee: uint256 = dy * self.fee // FEE_DENOMINATOR

    # Convert all to real units
    dy = (dy - dy_fee) * PRECISION // rates[j]
    assert dy >= min_dy, "Exchange resulted in fewer coins than expected"

    dy_admin_fee: uint256 = dy_fee * self.admin_fee // FEE_DENOMINATOR
    dy_admin_fee = dy_admin_fee * PRECISION // rates[j]

    # Change balances exactly in same way as we change actual ERC20 coin amounts
    self.balances[i] = old_balances[i] + dx
    # When rounding errors happen, we undercharge admin fee in favor of LP
    self.balances[j] = old_balances[j] - dy - dy_admin_fee

    assert extcall IERC20(self.coins[j]).transfer(msg.sender, dy, default_return_value=True)

    log TokenExchange(buyer=msg.sender, sold_id=i, tokens_sold=dx, bought_id=j, tokens_bought=dy)


@external
@nonreentrant
def remove_liquidity(_amount: uint256, min_amounts: uint256[N_COINS]):
    total_supply: uint256 = staticcall self.token.totalSupply()
    amounts: uint256[N_COINS] = empty(uint256[N_COINS])
    fees: uint256[N_COINS] = empty(uint256[N_COINS])  # Fees are unused but we've got them historically in event

    for i: int128 in range(N_COINS):
        value: uint256 = self.balances[i] * _amount // total_supply
        assert value >= min_amounts[i], "Withdrawal resulted in fewer coins than expected"
        self.balances[i] -= value
        amounts[i] = value
        assert extcall IERC20(self.coins[i]).transfer(msg.sender, value, default_return_value=True)

    extcall self.token.burnFrom(msg.sender, _amount)  # dev: insufficient funds

    log RemoveLiquidity(provider=msg.sender, token_amounts=amounts, fees=fees, token_supply=total_supply - _amount)


@external
@nonreentrant
def remove_liquidity_imbalance(amounts: uint256[N_COINS], max_burn_amount: uint256):
    token_supply: uint256 = staticcall self.token.totalSupply()
    assert token_supply != 0  # dev: zero total supply
    _fee: uint256 = self.fee * N // (4 * (N - 1))
    _admin_fee: uint256 = self.admin_fee
    amp: uint256 = self._A()

    old_balances: uint256[N_COINS] = self.balances
    new_balances: uint256[N_COINS] = old_balances
    D0: uint256 = self._get_D_mem(old_balances, amp)
    for i: int128 in range(N_COINS):
        new_balances[i] -= amounts[i]
    D1: uint256 = self._get_D_mem(new_balances, amp)
    fees: uint256[N_COINS] = empty(uint256[N_COINS])
    for i: int128 in range(N_COINS):
        ideal_balance: uint256 = D1 * old_balances[i] // D0
        difference: uint256 = 0
        if ideal_balance > new_balances[i]:
            difference = ideal_balance - new_balances[i]
        else:
            difference = new_balances[i] - ideal_balance
        fees[i] = _fee * difference // FEE_DENOMINATOR
        self.balances[i] = new_balances[i] - (fees[i] * _admin_fee // FEE_DENOMINATOR)
        new_balances[i] -= fees[i]
    D2: uint256 = self._get_D_mem(new_balances, amp)

    token_amount: uint256 = (D0 - D2) * token_supply // D0
    assert token_amount != 0  # dev: zero tokens burned
    token_amount += 1  # In case of rounding errors - make it unfavorable for the "attacker"
    assert token_amount <= max_burn_amount, "Slippage screwed you"

    extcall self.token.burnFrom(msg.sender, token_amount)  # dev: insufficient funds
    for i: int128 in range(N_COINS):
        if amounts[i] != 0:
            assert extcall IERC20(self.coins[i]).transfer(msg.sender, amounts[i], default_return_value=True)

    log RemoveLiquidityImbalance(provider=msg.sender, token_amounts=amounts, fees=fees, invariant=D1, token_supply=token_supply - token_amount)


@view
@internal
def _get_y_D(A_: uint256, i: int128, xp: uint256[N_COINS], D: uint256) -> uint256:
    """
    Calculate x[i] if one reduces D from being calculated for xp to D
    """
    assert i >= 0  # dev: i below zero
    assert i < N_COINS  # dev: i above N_COINS

    c: uint256 = D
    S_: uint256 = 0
    Ann: uint256 = A_ * N

    _x: uint256 = 0
    for _i: int128 in range(N_COINS):
        if _i != i:
            _x = xp[_i]
        else:
            continue
        S_ += _x
        c = c * D // (_x * N)
    c = c * D // (Ann * N)
    b: uint256 = S_ + D // Ann
    y_prev: uint256 = 0
    y: uint256 = D
    for _i: uint256 in range(255):
        y_prev = y
        y = (y*y + c) // (2 * y + b - D)
        # Equality with the precision of 1
        if y > y_prev:
            if y - y_prev <= 1:
                break
        else:
            if y_prev - y <= 1:
                break
    return y


@view
@internal
def _calc_withdraw_one_coin(_token_amount: uint256, i: int128) -> (uint256, uint256):
    # First, need to calculate
    # * Get current D
    # * Solve Eqn against y_i for D - _token_amount
    amp: uint256 = self._A()
    _fee: uint256 = self.fee * N // (4 * (N - 1))
    precisions: uint256[N_COINS] = PRECISION_MUL
    total_supply: uint256 = staticcall self.token.totalSupply()

    xp: uint256[N_COINS] = self._xp()

    D0: uint256 = self._get_D(xp, amp)
    D1: uint256 = D0 - _token_amount * D0 // total_supply
    xp_reduced: uint256[N_COINS] = xp

    new_y: uint256 = self._get_y_D(amp, i, xp, D1)
    dy_0: uint256 = (xp[i] - new_y) // precisions[i]  # w/o fees

    for j: int128 in range(N_COINS):
        dx_expected: uint256 = 0
        if j == i:
            dx_expected = xp[j] * D1 // D0 - new_y
        else:
            dx_expected = xp[j] - xp[j] * D1 // D0
        xp_reduced[j] -= _fee * dx_expected // FEE_DENOMINATOR

    dy: uint256 = xp_reduced[i] - self._get_y_D(amp, i, xp_reduced, D1)
    dy = (dy - 1) // precisions[i]  # Withdraw less to account for rounding errors

    return dy, dy_0 - dy


@view
@external
def calc_withdraw_one_coin(_token_amount: uint256, i: int128) -> uint256:
    return self._calc_withdraw_one_coin(_token_amount, i)[0]


@external
@nonreentrant
def remove_liquidity_one_coin(_token_amount: uint256, i: int128, min_amount: uint256):
    """
    Remove _amount of liquidity all in a form of coin i
    """
    dy: uint256 = 0
    dy_fee: uint256 = 0
    dy, dy_fee = self._calc_withdraw_one_coin(_token_amount, i)
    assert dy >= min_amount, "Not enough coins removed"

    self.balances[i] -= (dy + dy_fee * self.admin_fee // FEE_DENOMINATOR)
    extcall self.token.burnFrom(msg.sender, _token_amount)  # dev: insufficient funds

    assert extcall IERC20(self.coins[i]).transfer(msg.sender, dy, default_return_value=True)

    log RemoveLiquidityOne(provider=msg.sender, token_amount=_token_amount, coin_amount=dy)


@view
@external
def admin_balances(i: uint256) -> uint256:
    return staticcall IERC20(self.coins[i]).balanceOf(self) - self.balances[i]


@external
def withdraw_admin_fees():
    assert msg.sender == self.owner  # dev: only owner

    for i: int128 in range(N_COINS):
        c: address = self.coins[i]
        value: uint256 = staticcall IERC20(c).balanceOf(self) - self.balances[i]
        if value > 0:
            assert extcall IERC20(c).transfer(msg.sender, value, default_return_value=True)
