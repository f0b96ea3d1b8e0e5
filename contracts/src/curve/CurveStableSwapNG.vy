# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title CurveStableSwapNG (local stand-in)
@notice A Stableswap-NG plain pool of 2 to 8 plain ERC-20 coins; the pool is its own LP token.
    Follows curvefi/stableswap-ng contracts/main/CurveStableSwapNG.vy (Vyper 0.3.10), ported
    to Vyper 0.4 with its math verbatim: `get_D`, `get_y`, `get_y_D` with A_PRECISION = 100,
    the dynamic fee `_dynamic_fee` (the fee grows off peg by `offpeg_fee_multiplier`) in
    `exchange`, `add_liquidity` and `_calc_withdraw_one_coin`, rates from the coins'
    decimals (`10 ** (36 - decimals)`), the admin's share of fees (`admin_fee` 50%) kept
    in `admin_balances` and paid to the fee receiver by `remove_liquidity`'s
    `_claim_admin_fees` or `withdraw_admin_fees`. Dynamic arrays (`uint256[]`) and `int128`
    coin indexes, the optional `_receiver` arguments, and the same revert strings.
    `get_dy` and `calc_token_amount` are computed as the NG views contract
    (contracts/main/CurveStableSwapNGViews.vy) computes them for an NG pool, in the pool.
    Left out: the factory (the fee receiver and admin are set at deployment), oracle and
    rebasing coins (asset types 1-3), the price and D oracles (`upkeep_oracles`,
    `price_oracle`, `D_oracle`), ramping A, `exchange_received`, `get_dx`,
    `remove_liquidity_imbalance`, `permit` and the EIP-712 domain.
"""

from ethereum.ercs import IERC20

interface ERC20Detailed:
    def decimals() -> uint8: view


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event TokenExchange:
    buyer: indexed(address)
    sold_id: int128
    tokens_sold: uint256
    bought_id: int128
    tokens_bought: uint256

event AddLiquidity:
    provider: indexed(address)
    token_amounts: DynArray[uint256, MAX_COINS]
    fees: DynArray[uint256, MAX_COINS]
    invariant: uint256
    token_supply: uint256

event RemoveLiquidity:
    provider: indexed(address)
    token_amounts: DynArray[uint256, MAX_COINS]
    fees: DynArray[uint256, MAX_COINS]
    token_supply: uint256

event RemoveLiquidityOne:
    provider: indexed(address)
    token_id: int128
    token_amount: uint256
    coin_amount: uint256
    token_supply: uint256


MAX_COINS: constant(uint256) = 8
MAX_COINS_128: constant(int128) = 8

N_COINS: public(immutable(uint256))
N_COINS_128: immutable(int128)
PRECISION: constant(uint256) = 10 ** 18

coins: public(immutable(DynArray[address, MAX_COINS]))
rate_multipliers: immutable(DynArray[uint256, MAX_COINS])
fee_receiver: public(immutable(address))

stored_balances: DynArray[uint256, MAX_COINS]

fee: public(uint256)  # fee * 1e10
offpeg_fee_multiplier: public(uint256)  # * 1e10
admin_fee: public(constant(uint256)) = 5000000000
FEE_DENOMINATOR: constant(uint256) = 10 ** 10
MAX_FEE: constant(uint256) = 5 * 10 ** 9

A_PRECISION: constant(uint256) = 100
MAX_A: constant(uint256) = 10 ** 6
future_A: public(uint256)  # A * A_PRECISION

admin_balances: public(DynArray[uint256, MAX_COINS])

name: public(String[64])
symbol: public(String[32])
decimals: public(constant(uint8)) = 18
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
total_supply: uint256


@deploy
def __init__(
    _name: String[32],
    _symbol: String[10],
    _A: uint256,
    _fee: uint256,
    _offpeg_fee_multiplier: uint256,
    _coins: DynArray[address, MAX_COINS],
    _fee_receiver: address,
):
    assert len(_coins) >= 2  # dev: at least two coins
    assert _A > 0 and _A < MAX_A
    assert _fee <= MAX_FEE
    assert _offpeg_fee_multiplier * _fee <= MAX_FEE * FEE_DENOMINATOR  # dev: offpeg multiplier exceeds maximum
    coins = _coins
    __n_coins: uint256 = len(_coins)
    N_COINS = __n_coins
    N_COINS_128 = convert(__n_coins, int128)
    multipliers: DynArray[uint256, MAX_COINS] = []
    for i: uint256 in range(__n_coins, bound=MAX_COINS):
        multipliers.append(10 ** (36 - convert(staticcall ERC20Detailed(_coins[i]).decimals(), uint256)))
        self.stored_balances.append(0)
        self.admin_balances.append(0)
    rate_multipliers = multipliers
    fee_receiver = _fee_receiver
    self.future_A = _A * A_PRECISION
    self.fee = _fee
    self.offpeg_fee_multiplier = _offpeg_fee_multiplier
    self.name = _name
    self.symbol = _symbol


# ------------------------- Token transfers in and out ------------------------


@internal
def _transfer_in(coin_idx: int128, dx: uint256, sender: address) -> uint256:
    _dx: uint256 = staticcall IERC20(coins[coin_idx]).balanceOf(self)
    assert extcall IERC20(coins[coin_idx]).transferFrom(sender, self, dx, default_return_value=True)
    _dx = staticcall IERC20(coins[coin_idx]).balanceOf(self) - _dx
    self.stored_balances[coin_idx] += _dx
    return _dx


@internal
def _transfer_out(_coin_idx: int128, _amount: uint256, receiver: address):
    assert receiver != empty(address)  # dev: do not send tokens to zero_address
    self.stored_balances[_coin_idx] -= _amount
    assert extcall IERC20(coins[_coin_idx]).transfer(receiver, _amount, default_return_value=True)


@view
@internal
def _stored_rates() -> DynArray[uint256, MAX_COINS]:
    return rate_multipliers  # plain coins only (asset type 0)


@view
@internal
def _balances() -> DynArray[uint256, MAX_COINS]:
    result: DynArray[uint256, MAX_COINS] = empty(DynArray[uint256, MAX_COINS])
    for i: int128 in range(N_COINS_128, bound=MAX_COINS_128):
        result.append(self.stored_balances[i] - self.admin_balances[i])
    return result


# -------------------------- AMM Main Functions ------------------------------


@external
@nonreentrant
def exchange(
    i: int128,
    j: int128,
    _dx: uint256,
    _min_dy: uint256,
    _receiver: address = msg.sender,
) -> uint256:
    assert i != j  # dev: coin index out of range
    assert _dx > 0  # dev: do not exchange 0 coins

    rates: DynArray[uint256, MAX_COINS] = self._stored_rates()
    old_balances: DynArray[uint256, MAX_COINS] = self._balances()
    xp: DynArray[uint256, MAX_COINS] = self._xp_mem(rates, old_balances)

    dx: uint256 = self._transfer_in(i, _dx, msg.sender)

    x: uint256 = xp[i] + unsafe_div(dx * rates[i], PRECISION)
    amp: uint256 = self._A()
    D: uint256 = self._get_D(xp, amp)
    y: uint256 = self._get_y(i, j, x, xp, amp, D)

    dy: uint256 = xp[j] - y - 1  # -1 just in case there were some rounding errors
    dy_fee: uint256 = unsafe_div(
        dy * self._dynamic_fee(unsafe_div(xp[i] + x, 2), unsafe_div(xp[j] + y, 2), self.fee),
        FEE_DENOMINATOR
    )

    # Convert all to real units
    dy = (dy - dy_fee) * PRECISION // rates[j]

    self.admin_balances[j] += unsafe_div(
        unsafe_div(dy_fee * admin_fee, FEE_DENOMINATOR) * PRECISION,
        rates[j]
    )
    assert dy >= _min_dy, "Exchange resulted in fewer coins than expected"

    self._transfer_out(j, dy, _receiver)

    log TokenExchange(buyer=msg.sender, sold_id=i, tokens_sold=dx, bought_id=j, tokens_bought=dy)

    return dy


@external
@nonreentrant
def add_liquidity(
    _amounts: DynArray[uint256, MAX_COINS],
    _min_mint_amount: uint256,
    _receiver: address = msg.sender
) -> uint256:
    assert _receiver != empty(address)  # dev: do not send LP tokens to zero_address
    assert len(_amounts) == N_COINS  # dev: one amount per coin

    amp: uint256 = self._A()
    old_balances: DynArray[uint256, MAX_COINS] = self._balances()
    rates: DynArray[uint256, MAX_COINS] = self._stored_rates()

    # Initial invariant
    D0: uint256 = self._get_D_mem(rates, old_balances, amp)

    total_supply: uint256 = self.total_supply
    new_balances: DynArray[uint256, MAX_COINS] = old_balances

    for i: int128 in range(N_COINS_128, bound=MAX_COINS_128):
        if _amounts[i] > 0:
            new_balances[i] += self._transfer_in(i, _amounts[i], msg.sender)
        else:
            assert total_supply != 0  # dev: initial deposit requires all coins

    # Invariant after change
    D1: uint256 = self._get_D_mem(rates, new_balances, amp)
    assert D1 > D0

    # We need to recalculate the invariant accounting for fees
    # to calculate fair user's share
    fees: DynArray[uint256, MAX_COINS] = empty(DynArray[uint256, MAX_COINS])
    mint_amount: uint256 = 0

    if total_supply > 0:
        ideal_balance: uint256 = 0
        difference: uint256 = 0
        new_balance: uint256 = 0

        ys: uint256 = unsafe_div(D0 + D1, N_COINS)
        xs: uint256 = 0
        _dynamic_fee_i: uint256 = 0

        # Only account for fees if we are not the first to deposit
        base_fee: uint256 = unsafe_div(
            unsafe_mul(self.fee, N_COINS),
            unsafe_mul(4, unsafe_sub(N_COINS, 1))
        )

        for i: int128 in range(N_COINS_128, bound=MAX_COINS_128):
            ideal_balance = D1 * old_balances[i] // D0
            difference = 0
            new_balance = new_balances[i]

            if ideal_balance > new_balance:
                difference = unsafe_sub(ideal_balance, new_balance)
            else:
                difference = unsafe_sub(new_balance, ideal_balance)

            # fee[i] = _dynamic_fee(i, j) * difference / FEE_DENOMINATOR
            xs = unsafe_div(rates[i] * (old_balances[i] + new_balance), PRECISION)
            _dynamic_fee_i = self._dynamic_fee(xs, ys, base_fee)
            fees.append(unsafe_div(_dynamic_fee_i * difference, FEE_DENOMINATOR))
            self.admin_balances[i] += unsafe_div(fees[i] * admin_fee, FEE_DENOMINATOR)
            new_balances[i] -= fees[i]

        xp: DynArray[uint256, MAX_COINS] = self._xp_mem(rates, new_balances)
        D1 = self._get_D(xp, amp)  # <--------------- Reuse D1 for new D value.
        mint_amount = unsafe_div(total_supply * (D1 - D0), D0)
    else:
        mint_amount = D1  # Take the dust if there was any

    assert mint_amount >= _min_mint_amount, "Slippage screwed you"

    # Mint pool tokens
    total_supply += mint_amount
    self.balanceOf[_receiver] += mint_amount
    self.total_supply = total_supply
    log Transfer(sender=empty(address), receiver=_receiver, value=mint_amount)

    log AddLiquidity(provider=msg.sender, token_amounts=_amounts, fees=fees, invariant=D1, token_supply=total_supply)

    return mint_amount


@external
@nonreentrant
def remove_liquidity_one_coin(
    _burn_amount: uint256,
    i: int128,
    _min_received: uint256,
    _receiver: address = msg.sender,
) -> uint256:
    assert _burn_amount > 0  # dev: do not remove 0 LP tokens
    dy: uint256 = 0
    fee: uint256 = 0

    dy, fee = self._calc_withdraw_one_coin(_burn_amount, i)
    assert dy >= _min_received, "Not enough coins removed"

    self.admin_balances[i] += unsafe_div(fee * admin_fee, FEE_DENOMINATOR)

    self._burnFrom(msg.sender, _burn_amount)

    self._transfer_out(i, dy, _receiver)

    log RemoveLiquidityOne(provider=msg.sender, token_id=i, token_amount=_burn_amount, coin_amount=dy, token_supply=self.total_supply)

    return dy


@external
@nonreentrant
def remove_liquidity(
    _burn_amount: uint256,
    _min_amounts: DynArray[uint256, MAX_COINS],
    _receiver: address = msg.sender,
    _claim_admin_fees: bool = True,
) -> DynArray[uint256, MAX_COINS]:
    total_supply: uint256 = self.total_supply
    assert _burn_amount > 0  # dev: invalid burn amount
    assert len(_min_amounts) == N_COINS  # dev: invalid array length for _min_amounts

    amounts: DynArray[uint256, MAX_COINS] = empty(DynArray[uint256, MAX_COINS])
    balances: DynArray[uint256, MAX_COINS] = self._balances()

    value: uint256 = 0
    for i: int128 in range(N_COINS_128, bound=MAX_COINS_128):
        value = unsafe_div(balances[i] * _burn_amount, total_supply)
        assert value >= _min_amounts[i], "Withdrawal resulted in fewer coins than expected"
        amounts.append(value)
        self._transfer_out(i, value, _receiver)

    self._burnFrom(msg.sender, _burn_amount)  # <---- Updates self.total_supply

    log RemoveLiquidity(provider=msg.sender, token_amounts=amounts, fees=empty(DynArray[uint256, MAX_COINS]), token_supply=unsafe_sub(total_supply, _burn_amount))

    if _claim_admin_fees:
        self._withdraw_admin_fees()

    return amounts


@external
@nonreentrant
def withdraw_admin_fees():
    self._withdraw_admin_fees()


@internal
def _withdraw_admin_fees():
    admin_balances: DynArray[uint256, MAX_COINS] = self.admin_balances
    for i: int128 in range(N_COINS_128, bound=MAX_COINS_128):
        if admin_balances[i] > 0:
            self._transfer_out(i, admin_balances[i], fee_receiver)
            admin_balances[i] = 0
    self.admin_balances = admin_balances


# ------------------------ AMM Internal Functions ----------------------------


@view
@internal
def _dynamic_fee(xpi: uint256, xpj: uint256, _fee: uint256) -> uint256:
    _offpeg_fee_multiplier: uint256 = self.offpeg_fee_multiplier
    if _offpeg_fee_multiplier <= FEE_DENOMINATOR:
        return _fee

    xps2: uint256 = (xpi + xpj) ** 2
    return unsafe_div(
        unsafe_mul(_offpeg_fee_multiplier, _fee),
        unsafe_add(
            unsafe_sub(_offpeg_fee_multiplier, FEE_DENOMINATOR) * 4 * xpi * xpj // xps2,
            FEE_DENOMINATOR
        )
    )


@view
@internal
def _get_y(
    i: int128,
    j: int128,
    x: uint256,
    xp: DynArray[uint256, MAX_COINS],
    _amp: uint256,
    _D: uint256
) -> uint256:
    assert i != j       # dev: same coin
    assert j >= 0       # dev: j below zero
    assert j < N_COINS_128  # dev: j above N_COINS

    # should be unreachable, but good for safety
    assert i >= 0
    assert i < N_COINS_128

    amp: uint256 = _amp
    D: uint256 = _D

    S_: uint256 = 0
    _x: uint256 = 0
    y_prev: uint256 = 0
    c: uint256 = D
    Ann: uint256 = amp * N_COINS

    for _i: int128 in range(MAX_COINS_128):
        if _i == N_COINS_128:
            break
        if _i == i:
            _x = x
        elif _i != j:
            _x = xp[_i]
        else:
            continue
        S_ += _x
        c = c * D // (_x * N_COINS)

    c = c * D * A_PRECISION // (Ann * N_COINS)
    b: uint256 = S_ + D * A_PRECISION // Ann  # - D
    y: uint256 = D

    for _i: uint256 in range(255):
        y_prev = y
        y = (y*y + c) // (2 * y + b - D)
        # Equality with the precision of 1
        if y > y_prev:
            if y - y_prev <= 1:
                return y
        else:
            if y_prev - y <= 1:
                return y
    raise


@view
@internal
def _get_D(_xp: DynArray[uint256, MAX_COINS], _amp: uint256) -> uint256:
    S: uint256 = 0
    for x: uint256 in _xp:
        S += x
    if S == 0:
        return 0

    D: uint256 = S
    Ann: uint256 = _amp * N_COINS

    for i: uint256 in range(255):
        D_P: uint256 = D
        for x: uint256 in _xp:
            D_P = D_P * D // x
        D_P //= pow_mod256(N_COINS, N_COINS)
        Dprev: uint256 = D

        D = (
            (unsafe_div(Ann * S, A_PRECISION) + D_P * N_COINS) * D
            //
            (
                unsafe_div((Ann - A_PRECISION) * D, A_PRECISION) +
                unsafe_add(N_COINS, 1) * D_P
            )
        )
        # Equality with the precision of 1
        if D > Dprev:
            if D - Dprev <= 1:
                return D
        else:
            if Dprev - D <= 1:
                return D
    # convergence typically occurs in 4 rounds or less, this should be unreachable!
    raise


@view
@internal
def _get_y_D(
    A: uint256,
    i: int128,
    xp: DynArray[uint256, MAX_COINS],
    D: uint256
) -> uint256:
    assert i >= 0  # dev: i below zero
    assert i < N_COINS_128  # dev: i above N_COINS

    S_: uint256 = 0
    _x: uint256 = 0
    y_prev: uint256 = 0
    c: uint256 = D
    Ann: uint256 = A * N_COINS

    for _i: int128 in range(MAX_COINS_128):
        if _i == N_COINS_128:
            break
        if _i != i:
            _x = xp[_i]
        else:
            continue
        S_ += _x
        c = c * D // (_x * N_COINS)

    c = c * D * A_PRECISION // (Ann * N_COINS)
    b: uint256 = S_ + D * A_PRECISION // Ann
    y: uint256 = D

    for _i: uint256 in range(255):
        y_prev = y
        y = (y*y + c) // (2 * y + b - D)
        # Equality with the precision of 1
        if y > y_prev:
            if y - y_prev <= 1:
                return y
        else:
            if y_prev - y <= 1:
                return y
    raise


@view
@internal
def _A() -> uint256:
    return self.future_A  # no ramping in the stand-in


@view
@internal
def _xp_mem(
    _rates: DynArray[uint256, MAX_COINS],
    _balances: DynArray[uint256, MAX_COINS]
) -> DynArray[uint256, MAX_COINS]:
    result: DynArray[uint256, MAX_COINS] = empty(DynArray[uint256, MAX_COINS])
    for i: int128 in range(N_COINS_128, bound=MAX_COINS_128):
        result.append(unsafe_div(_rates[i] * _balances[i], PRECISION))
    return result


@view
@internal
def _get_D_mem(
    _rates: DynArray[uint256, MAX_COINS],
    _balances: DynArray[uint256, MAX_COINS],
    _amp: uint256
) -> uint256:
    xp: DynArray[uint256, MAX_COINS] = self._xp_mem(_rates, _balances)
    return self._get_D(xp, _amp)


@view
@internal
def _calc_withdraw_one_coin(_burn_amount: uint256, i: int128) -> (uint256, uint256):
    # First, need to calculate
    # * Get current D
    # * Solve Eqn against y_i for D - _token_amount
    amp: uint256 = self._A()
    rates: DynArray[uint256, MAX_COINS] = self._stored_rates()
    xp: DynArray[uint256, MAX_COINS] = self._xp_mem(rates, self._balances())
    D0: uint256 = self._get_D(xp, amp)

    total_supply: uint256 = self.total_supply
    D1: uint256 = D0 - _burn_amount * D0 // total_supply
    new_y: uint256 = self._get_y_D(amp, i, xp, D1)

    base_fee: uint256 = unsafe_div(
        unsafe_mul(self.fee, N_COINS),
        unsafe_mul(4, unsafe_sub(N_COINS, 1))
    )
    xp_reduced: DynArray[uint256, MAX_COINS] = xp
    ys: uint256 = unsafe_div((D0 + D1), unsafe_mul(2, N_COINS))

    dx_expected: uint256 = 0
    xp_j: uint256 = 0
    xavg: uint256 = 0
    dynamic_fee: uint256 = 0

    for j: int128 in range(MAX_COINS_128):
        if j == N_COINS_128:
            break

        dx_expected = 0
        xp_j = xp[j]

        if j == i:
            dx_expected = xp_j * D1 // D0 - new_y
            xavg = unsafe_div((xp_j + new_y), 2)
        else:
            dx_expected = xp_j - xp_j * D1 // D0
            xavg = xp_j

        dynamic_fee = self._dynamic_fee(xavg, ys, base_fee)
        xp_reduced[j] = xp_j - unsafe_div(dynamic_fee * dx_expected, FEE_DENOMINATOR)

    dy: uint256 = xp_reduced[i] - self._get_y_D(amp, i, xp_reduced, D1)
    dy_0: uint256 = (xp[i] - new_y) * PRECISION // rates[i]  # w/o fees
    dy = unsafe_div((dy - 1) * PRECISION, rates[i])  # Withdraw less to account for rounding errors

    return dy, dy_0 - dy


# ---------------------------- ERC20 Utils -----------------------------------


@internal
def _transfer(_from: address, _to: address, _value: uint256):
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    log Transfer(sender=_from, receiver=_to, value=_value)


@internal
def _burnFrom(_from: address, _burn_amount: uint256):
    self.total_supply -= _burn_amount
    self.balanceOf[_from] -= _burn_amount
    log Transfer(sender=_from, receiver=empty(address), value=_burn_amount)


@external
def transfer(_to : address, _value : uint256) -> bool:
    self._transfer(msg.sender, _to, _value)
    return True


@external
def transferFrom(_from : address, _to : address, _value : uint256) -> bool:
    self._transfer(_from, _to, _value)

    _allowance: uint256 = self.allowance[_from][msg.sender]
    if _allowance != max_value(uint256):
        _new_allowance: uint256 = _allowance - _value
        self.allowance[_from][msg.sender] = _new_allowance
        log Approval(owner=_from, spender=msg.sender, value=_new_allowance)

    return True


@external
def approve(_spender : address, _value : uint256) -> bool:
    self.allowance[msg.sender][_spender] = _value
    log Approval(owner=msg.sender, spender=_spender, value=_value)
    return True


# ------------------------- AMM View Functions -------------------------------


@view
@external
def get_dy(i: int128, j: int128, dx: uint256) -> uint256:
    """
    @notice Calculate the current output dy given input dx (as CurveStableSwapNGViews.get_dy)
    """
    rates: DynArray[uint256, MAX_COINS] = self._stored_rates()
    xp: DynArray[uint256, MAX_COINS] = self._xp_mem(rates, self._balances())

    x: uint256 = xp[i] + (dx * rates[i] // PRECISION)
    amp: uint256 = self._A()
    D: uint256 = self._get_D(xp, amp)
    y: uint256 = self._get_y(i, j, x, xp, amp, D)
    dy: uint256 = xp[j] - y - 1

    fee: uint256 = self._dynamic_fee((xp[i] + x) // 2, (xp[j] + y) // 2, self.fee) * dy // FEE_DENOMINATOR
    return (dy - fee) * PRECISION // rates[j]


@view
@external
def calc_withdraw_one_coin(_burn_amount: uint256, i: int128) -> uint256:
    return self._calc_withdraw_one_coin(_burn_amount, i)[0]


@view
@external
@nonreentrant
def totalSupply() -> uint256:
    return self.total_supply


@view
@external
@nonreentrant
def get_virtual_price() -> uint256:
    amp: uint256 = self._A()
    xp: DynArray[uint256, MAX_COINS] = self._xp_mem(self._stored_rates(), self._balances())
    D: uint256 = self._get_D(xp, amp)
    # D is in the units similar to DAI (e.g. converted to precision 1e18)
    # When balanced, D = n * x_u - total virtual value of the portfolio
    return D * PRECISION // self.total_supply


@view
@external
def calc_token_amount(_amounts: DynArray[uint256, MAX_COINS], _is_deposit: bool) -> uint256:
    """
    @notice Calculate addition or reduction in token supply from a deposit or withdrawal,
        dynamic fees included (as CurveStableSwapNGViews._calc_token_amount for an NG pool)
    """
    assert len(_amounts) == N_COINS  # dev: one amount per coin
    amp: uint256 = self._A()
    rates: DynArray[uint256, MAX_COINS] = self._stored_rates()
    old_balances: DynArray[uint256, MAX_COINS] = self._balances()
    xp: DynArray[uint256, MAX_COINS] = self._xp_mem(rates, old_balances)

    # Initial invariant
    D0: uint256 = self._get_D(xp, amp)

    total_supply: uint256 = self.total_supply
    new_balances: DynArray[uint256, MAX_COINS] = old_balances
    for i: uint256 in range(N_COINS, bound=MAX_COINS):
        if _is_deposit:
            new_balances[i] += _amounts[i]
        else:
            new_balances[i] -= _amounts[i]

    # Invariant after change
    for idx: uint256 in range(N_COINS, bound=MAX_COINS):
        xp[idx] = rates[idx] * new_balances[idx] // PRECISION
    D1: uint256 = self._get_D(xp, amp)

    # We need to recalculate the invariant accounting for fees
    # to calculate fair user's share
    D2: uint256 = D1
    if total_supply > 0:
        base_fee: uint256 = self.fee * N_COINS // (4 * (N_COINS - 1))
        xs: uint256 = 0
        ys: uint256 = (D0 + D1) // N_COINS

        for i: uint256 in range(N_COINS, bound=MAX_COINS):
            ideal_balance: uint256 = D1 * old_balances[i] // D0
            difference: uint256 = 0
            new_balance: uint256 = new_balances[i]
            if ideal_balance > new_balance:
                difference = ideal_balance - new_balance
            else:
                difference = new_balance - ideal_balance

            xs = rates[i] * (old_balances[i] + new_balance) // PRECISION
            new_balances[i] -= self._dynamic_fee(xs, ys, base_fee) * difference // FEE_DENOMINATOR

        for idx: uint256 in range(N_COINS, bound=MAX_COINS):
            xp[idx] = rates[idx] * new_balances[idx] // PRECISION

        D2 = self._get_D(xp, amp)
    else:
        return D1  # Take the dust if there was any

    diff: uint256 = 0
    if _is_deposit:
        diff = D2 - D0
    else:
        diff = D0 - D2
    return diff * total_supply // D0


@view
@external
def A() -> uint256:
    return unsafe_div(self._A(), A_PRECISION)


@view
@external
def A_precise() -> uint256:
    return self._A()


@view
@external
def balances(i: uint256) -> uint256:
    return self._balances()[i]


@view
@external
def get_balances() -> DynArray[uint256, MAX_COINS]:
    return self._balances()


@view
@external
def stored_rates() -> DynArray[uint256, MAX_COINS]:
    return self._stored_rates()


@view
@external
def dynamic_fee(i: int128, j: int128) -> uint256:
    xp: DynArray[uint256, MAX_COINS] = self._xp_mem(self._stored_rates(), self._balances())
    return self._dynamic_fee(xp[i], xp[j], self.fee)
