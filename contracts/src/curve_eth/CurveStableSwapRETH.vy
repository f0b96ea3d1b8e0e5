# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title CurveStableSwapRETH (local stand-in)
@notice Curve's ETH/rETH StableSwap pool: coin 0 is native ETH (0xEeee...EEeE), coin 1 an
    exchange-rate token priced by its own `getExchangeRate()` (ETH per 1e18 of the token), with
    a separate CurveTokenV3 LP token it mints and burns. Here coin 1 is Rocket Pool's rETH,
    whose `getExchangeRate()` has the same signature and units.
    Follows curvefi/curve-contract contracts/pools/reth/StableSwapRETH.vy (Vyper 0.2.8; on
    mainnet that pool held StaFi's rETH), ported to Vyper 0.4 with its math and units
    verbatim: stored `balances`, rates `[1e18, getExchangeRate()]` read at every call, `get_D`
    and `get_y` with A_PRECISION = 100, `get_dy` (which, as the original, does not take the
    `- 1` that `exchange` takes, so a swap may pay a wei or so less than its `get_dy`),
    `exchange(i, j, dx, min_dy)` (payable: selling ETH carries exactly `dx`, selling rETH
    carries none; the ETH bought is paid to msg.sender by a plain call), `add_liquidity`
    (payable, `msg.value == amounts[0]`), `remove_liquidity`, `calc_token_amount` (no fees),
    `get_virtual_price`, the admin's share of each fee left out of `balances`, and the same
    revert strings.
    What differs from the rETH/ETH pool Rocket Pool's rETH trades in on mainnet now: that is a
    Curve factory crypto pool (CurveCryptoSwap2ETH, its own price oracle, no peg); this is the
    older StableSwap pool with a rate oracle, the same shape as a Stableswap-NG pool with an
    oracle-rate coin (asset type 1). Left out: ramping A (A is fixed at deployment),
    `get_dx`, `remove_liquidity_one_coin`, `calc_withdraw_one_coin`,
    `remove_liquidity_imbalance`, the timelocked fee and ownership changes,
    `withdraw_admin_fees`/`donate_admin_fees`, and kill/unkill.
"""

from ethereum.ercs import IERC20

interface RateToken:
    def getExchangeRate() -> uint256: view

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


N_COINS: constant(int128) = 2
N: constant(uint256) = 2
ETH_ADDRESS: constant(address) = 0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE

FEE_DENOMINATOR: constant(uint256) = 10 ** 10
PRECISION: constant(uint256) = 10 ** 18

MAX_ADMIN_FEE: constant(uint256) = 10 * 10 ** 9
MAX_FEE: constant(uint256) = 5 * 10 ** 9
MAX_A: constant(uint256) = 10 ** 6
A_PRECISION: constant(uint256) = 100

coins: public(address[N_COINS])
balances: public(uint256[N_COINS])

fee: public(uint256)  # fee * 1e10
admin_fee: public(uint256)  # admin_fee * 1e10

owner: public(address)
lp_token: public(address)

initial_A: public(uint256)
future_A: public(uint256)


@deploy
def __init__(
    _owner: address,
    _coins: address[N_COINS],
    _pool_token: address,
    _A: uint256,
    _fee: uint256,
    _admin_fee: uint256,
):
    assert _coins[0] == ETH_ADDRESS
    assert _coins[1] != empty(address)
    assert _A > 0 and _A < MAX_A
    assert _fee <= MAX_FEE
    assert _admin_fee <= MAX_ADMIN_FEE

    self.coins = _coins
    self.initial_A = _A * A_PRECISION
    self.future_A = _A * A_PRECISION
    self.fee = _fee
    self.admin_fee = _admin_fee
    self.owner = _owner
    self.lp_token = _pool_token


@view
@internal
def _A() -> uint256:
    return self.future_A  # no ramping in the stand-in


@view
@external
def A() -> uint256:
    return self._A() // A_PRECISION


@view
@external
def A_precise() -> uint256:
    return self._A()


@view
@internal
def _stored_rates() -> uint256[N_COINS]:
    return [PRECISION, staticcall RateToken(self.coins[1]).getExchangeRate()]


@view
@internal
def _xp(rates: uint256[N_COINS]) -> uint256[N_COINS]:
    result: uint256[N_COINS] = rates
    for i: uint256 in range(N):
        result[i] = result[i] * self.balances[i] // PRECISION
    return result


@pure
@internal
def _get_D(xp: uint256[N_COINS], amp: uint256) -> uint256:
    S: uint256 = 0
    Dprev: uint256 = 0

    for _x: uint256 in xp:
        S += _x
    if S == 0:
        return 0

    D: uint256 = S
    Ann: uint256 = amp * N
    for _i: uint256 in range(255):
        D_P: uint256 = D
        for _x: uint256 in xp:
            D_P = D_P * D // (_x * N)  # If division by 0, this will be borked: only withdrawal will work. And that is good
        Dprev = D
        D = (Ann * S // A_PRECISION + D_P * N) * D // ((Ann - A_PRECISION) * D // A_PRECISION + (N + 1) * D_P)
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
def _get_D_mem(rates: uint256[N_COINS], _balances: uint256[N_COINS], amp: uint256) -> uint256:
    result: uint256[N_COINS] = rates
    for i: uint256 in range(N):
        result[i] = result[i] * _balances[i] // PRECISION
    return self._get_D(result, amp)


@view
@external
def get_virtual_price() -> uint256:
    D: uint256 = self._get_D(self._xp(self._stored_rates()), self._A())
    token_supply: uint256 = staticcall CurveToken(self.lp_token).totalSupply()
    return D * PRECISION // token_supply


@view
@external
def calc_token_amount(amounts: uint256[N_COINS], is_deposit: bool) -> uint256:
    amp: uint256 = self._A()
    rates: uint256[N_COINS] = self._stored_rates()
    _balances: uint256[N_COINS] = self.balances
    D0: uint256 = self._get_D_mem(rates, _balances, amp)
    for i: uint256 in range(N):
        _amount: uint256 = amounts[i]
        if is_deposit:
            _balances[i] += _amount
        else:
            _balances[i] -= _amount
    D1: uint256 = self._get_D_mem(rates, _balances, amp)
    token_amount: uint256 = staticcall CurveToken(self.lp_token).totalSupply()
    diff: uint256 = 0
    if is_deposit:
        diff = D1 - D0
    else:
        diff = D0 - D1
    return diff * token_amount // D0


@payable
@external
@nonreentrant
def add_liquidity(amounts: uint256[N_COINS], min_mint_amount: uint256) -> uint256:
    amp: uint256 = self._A()
    rates: uint256[N_COINS] = self._stored_rates()
    _lp_token: address = self.lp_token
    token_supply: uint256 = staticcall CurveToken(_lp_token).totalSupply()

    # Initial invariant
    D0: uint256 = 0
    old_balances: uint256[N_COINS] = self.balances
    if token_supply != 0:
        D0 = self._get_D_mem(rates, old_balances, amp)

    new_balances: uint256[N_COINS] = old_balances
    for i: uint256 in range(N):
        if token_supply == 0:
            assert amounts[i] > 0
        new_balances[i] += amounts[i]

    # Invariant after change
    D1: uint256 = self._get_D_mem(rates, new_balances, amp)
    assert D1 > D0

    # We need to recalculate the invariant accounting for fees
    # to calculate fair user's share
    D2: uint256 = D1
    fees: uint256[N_COINS] = empty(uint256[N_COINS])
    mint_amount: uint256 = 0
    if token_supply != 0:
        # Only account for fees if we are not the first to deposit
        _fee: uint256 = self.fee * N // (4 * (N - 1))
        _admin_fee: uint256 = self.admin_fee
        for i: uint256 in range(N):
            ideal_balance: uint256 = D1 * old_balances[i] // D0
            difference: uint256 = 0
            if ideal_balance > new_balances[i]:
                difference = ideal_balance - new_balances[i]
            else:
                difference = new_balances[i] - ideal_balance
            fees[i] = _fee * difference // FEE_DENOMINATOR
            self.balances[i] = new_balances[i] - (fees[i] * _admin_fee // FEE_DENOMINATOR)
            new_balances[i] -= fees[i]
        D2 = self._get_D_mem(rates, new_balances, amp)
        mint_amount = token_supply * (D2 - D0) // D0
    else:
        self.balances = new_balances
        mint_amount = D1  # Take the dust if there was any

    assert mint_amount >= min_mint_amount, "Slippage screwed you"

    # Take coins from the sender
    assert msg.value == amounts[0]
    if amounts[1] > 0:
        assert extcall IERC20(self.coins[1]).transferFrom(msg.sender, self, amounts[1])

    # Mint pool tokens
    extcall CurveToken(_lp_token).mint(msg.sender, mint_amount)

    log AddLiquidity(provider=msg.sender, token_amounts=amounts, fees=fees, invariant=D1, token_supply=token_supply + mint_amount)

    return mint_amount


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

    A_: uint256 = self._A()
    D: uint256 = self._get_D(xp_, A_)
    Ann: uint256 = A_ * N
    c: uint256 = D
    S_: uint256 = 0
    _x: uint256 = 0
    y_prev: uint256 = 0

    for _i: int128 in range(N_COINS):
        if _i == i:
            _x = x
        elif _i != j:
            _x = xp_[_i]
        else:
            continue
        S_ += _x
        c = c * D // (_x * N)
    c = c * D * A_PRECISION // (Ann * N)
    b: uint256 = S_ + D * A_PRECISION // Ann  # - D
    y: uint256 = D
    for _i: uint256 in range(255):
        y_prev = y
        y = (y * y + c) // (2 * y + b - D)
        # Equality with the precision of 1
        if y > y_prev:
            if y - y_prev <= 1:
                return y
        else:
            if y_prev - y <= 1:
                return y
    raise


@view
@external
def get_dy(i: int128, j: int128, dx: uint256) -> uint256:
    # dx and dy in c-units
    rates: uint256[N_COINS] = self._stored_rates()
    xp: uint256[N_COINS] = self._xp(rates)

    x: uint256 = xp[i] + dx * rates[i] // PRECISION
    y: uint256 = self._get_y(i, j, x, xp)
    dy: uint256 = xp[j] - y
    _fee: uint256 = self.fee * dy // FEE_DENOMINATOR
    return (dy - _fee) * PRECISION // rates[j]


@payable
@external
@nonreentrant
def exchange(i: int128, j: int128, dx: uint256, min_dy: uint256) -> uint256:
    rates: uint256[N_COINS] = self._stored_rates()

    xp: uint256[N_COINS] = self._xp(rates)
    x: uint256 = xp[i] + dx * rates[i] // PRECISION
    y: uint256 = self._get_y(i, j, x, xp)
    dy: uint256 = xp[j] - y - 1  # -1 just in case there were some rounding errors
    dy_fee: uint256 = dy * self.fee // FEE_DENOMINATOR
    dy_admin_fee: uint256 = dy_fee * self.admin_fee // FEE_DENOMINATOR

    self.balances[i] = x * PRECISION // rates[i]
    self.balances[j] = (y + (dy_fee - dy_admin_fee)) * PRECISION // rates[j]

    dy = (dy - dy_fee) * PRECISION // rates[j]
    assert dy >= min_dy, "Exchange resulted in fewer coins than expected"

    coin: address = self.coins[1]
    if i == 0:
        assert msg.value == dx
        assert extcall IERC20(coin).transfer(msg.sender, dy)
    else:
        assert msg.value == 0
        assert extcall IERC20(coin).transferFrom(msg.sender, self, dx)
        raw_call(msg.sender, b"", value=dy)

    log TokenExchange(buyer=msg.sender, sold_id=i, tokens_sold=dx, bought_id=j, tokens_bought=dy)

    return dy


@external
@nonreentrant
def remove_liquidity(_amount: uint256, min_amounts: uint256[N_COINS]) -> uint256[N_COINS]:
    _lp_token: address = self.lp_token
    total_supply: uint256 = staticcall CurveToken(_lp_token).totalSupply()
    amounts: uint256[N_COINS] = empty(uint256[N_COINS])

    for i: uint256 in range(N):
        _balance: uint256 = self.balances[i]
        value: uint256 = _balance * _amount // total_supply
        assert value >= min_amounts[i], "Withdrawal resulted in fewer coins than expected"
        self.balances[i] = _balance - value
        amounts[i] = value
        if i == 0:
            raw_call(msg.sender, b"", value=value)
        else:
            assert extcall IERC20(self.coins[1]).transfer(msg.sender, value)

    extcall CurveToken(_lp_token).burnFrom(msg.sender, _amount)  # Will raise if not enough

    log RemoveLiquidity(provider=msg.sender, token_amounts=amounts, fees=empty(uint256[N_COINS]), token_supply=total_supply - _amount)

    return amounts
