# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title CurveStableSwapSTETH (local stand-in)
@notice Curve's ETH/stETH StableSwap pool: coin 0 is native ETH (0xEeee...EEeE), coin 1 stETH,
    with a separate CurveTokenV3 LP token it mints and burns.
    Follows curvefi/curve-contract contracts/pools/steth/StableSwapSTETH.vy (Vyper 0.2.8),
    ported to Vyper 0.4 with its math and units verbatim: balances read from the pool's own
    ETH balance and `stETH.balanceOf(pool)` less `admin_balances` (so stETH's 1-2 wei
    transfer rounding and its rebases land in the pool's balances, as on mainnet), `get_D`
    with its `+1` against division by zero and A_PRECISION = 100, `get_y`, `get_dy` and
    `exchange(i, j, dx, min_dy)` (payable: selling ETH must carry exactly `dx`, selling stETH
    must carry none; the ETH bought is paid to msg.sender by a plain call), `add_liquidity`
    (payable, `msg.value == amounts[0]`), `remove_liquidity`, `calc_token_amount` (no fees),
    `get_virtual_price`, the admin's share of each fee kept in `admin_balances`, and the same
    revert strings ("Exchange resulted in fewer coins than expected", "Slippage screwed
    you", "Withdrawal resulted in fewer coins than expected").
    Left out: ramping A (A is fixed at deployment), `remove_liquidity_one_coin`,
    `calc_withdraw_one_coin`, `remove_liquidity_imbalance`, the timelocked fee and
    ownership changes, `withdraw_admin_fees`/`donate_admin_fees`, and kill/unkill.
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
admin_balances: public(uint256[N_COINS])

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
    _admin_fee: uint256
):
    for i: int128 in range(N_COINS):
        assert _coins[i] != empty(address)
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
def _balances(_value: uint256 = 0) -> uint256[N_COINS]:
    return [
        self.balance - self.admin_balances[0] - _value,
        staticcall IERC20(self.coins[1]).balanceOf(self) - self.admin_balances[1]
    ]


@view
@external
def balances(i: uint256) -> uint256:
    return self._balances()[i]


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
            D_P = D_P * D // (_x * N + 1)  # +1 is to prevent /0
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
@external
def get_virtual_price() -> uint256:
    D: uint256 = self._get_D(self._balances(), self._A())
    token_supply: uint256 = staticcall CurveToken(self.lp_token).totalSupply()
    return D * PRECISION // token_supply


@view
@external
def calc_token_amount(amounts: uint256[N_COINS], is_deposit: bool) -> uint256:
    amp: uint256 = self._A()
    balances: uint256[N_COINS] = self._balances()
    D0: uint256 = self._get_D(balances, amp)
    for i: uint256 in range(N):
        if is_deposit:
            balances[i] += amounts[i]
        else:
            balances[i] -= amounts[i]
    D1: uint256 = self._get_D(balances, amp)
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
    # Initial invariant
    amp: uint256 = self._A()
    old_balances: uint256[N_COINS] = self._balances(msg.value)
    D0: uint256 = self._get_D(old_balances, amp)

    lp_token: address = self.lp_token
    token_supply: uint256 = staticcall CurveToken(lp_token).totalSupply()
    new_balances: uint256[N_COINS] = empty(uint256[N_COINS])
    for i: uint256 in range(N):
        if token_supply == 0:
            assert amounts[i] > 0  # dev: initial deposit requires all coins
        new_balances[i] = old_balances[i] + amounts[i]

    # Invariant after change
    D1: uint256 = self._get_D(new_balances, amp)
    assert D1 > D0

    # We need to recalculate the invariant accounting for fees
    # to calculate fair user's share
    fees: uint256[N_COINS] = empty(uint256[N_COINS])
    mint_amount: uint256 = 0
    D2: uint256 = D1
    if token_supply > 0:
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
            if _admin_fee != 0:
                self.admin_balances[i] += fees[i] * _admin_fee // FEE_DENOMINATOR
            new_balances[i] -= fees[i]
        D2 = self._get_D(new_balances, amp)
        mint_amount = token_supply * (D2 - D0) // D0
    else:
        mint_amount = D1  # Take the dust if there was any

    assert mint_amount >= min_mint_amount, "Slippage screwed you"

    # Take coins from the sender
    for i: uint256 in range(N):
        coin: address = self.coins[i]
        amount: uint256 = amounts[i]
        if coin == ETH_ADDRESS:
            assert msg.value == amount
        elif amount > 0:
            assert extcall IERC20(coin).transferFrom(msg.sender, self, amount, default_return_value=True)  # dev: failed transfer

    # Mint pool tokens
    extcall CurveToken(lp_token).mint(msg.sender, mint_amount)

    log AddLiquidity(provider=msg.sender, token_amounts=amounts, fees=fees, invariant=D1, token_supply=token_supply + mint_amount)

    return mint_amount


@view
@internal
def _get_y(i: int128, j: int128, x: uint256, xp: uint256[N_COINS]) -> uint256:
    # x in the input is converted to the same price/precision

    assert i != j       # dev: same coin
    assert j >= 0       # dev: j below zero
    assert j < N_COINS  # dev: j above N_COINS

    # should be unreachable, but good for safety
    assert i >= 0
    assert i < N_COINS

    amp: uint256 = self._A()
    D: uint256 = self._get_D(xp, amp)
    Ann: uint256 = amp * N
    c: uint256 = D
    S_: uint256 = 0
    _x: uint256 = 0
    y_prev: uint256 = 0

    for _i: int128 in range(N_COINS):
        if _i == i:
            _x = x
        elif _i != j:
            _x = xp[_i]
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
    xp: uint256[N_COINS] = self._balances()
    x: uint256 = xp[i] + dx
    y: uint256 = self._get_y(i, j, x, xp)
    dy: uint256 = xp[j] - y - 1
    _fee: uint256 = self.fee * dy // FEE_DENOMINATOR
    return dy - _fee


@payable
@external
@nonreentrant
def exchange(i: int128, j: int128, dx: uint256, min_dy: uint256) -> uint256:
    xp: uint256[N_COINS] = self._balances(msg.value)

    x: uint256 = xp[i] + dx
    y: uint256 = self._get_y(i, j, x, xp)
    dy: uint256 = xp[j] - y - 1
    dy_fee: uint256 = dy * self.fee // FEE_DENOMINATOR

    # Convert all to real units
    dy = dy - dy_fee
    assert dy >= min_dy, "Exchange resulted in fewer coins than expected"

    _admin_fee: uint256 = self.admin_fee
    if _admin_fee != 0:
        dy_admin_fee: uint256 = dy_fee * _admin_fee // FEE_DENOMINATOR
        if dy_admin_fee != 0:
            self.admin_balances[j] += dy_admin_fee

    coin: address = self.coins[i]
    if coin == ETH_ADDRESS:
        assert msg.value == dx
    else:
        assert msg.value == 0
        assert extcall IERC20(coin).transferFrom(msg.sender, self, dx, default_return_value=True)  # dev: failed transfer

    coin = self.coins[j]
    if coin == ETH_ADDRESS:
        raw_call(msg.sender, b"", value=dy)
    else:
        assert extcall IERC20(coin).transfer(msg.sender, dy, default_return_value=True)  # dev: failed transfer

    log TokenExchange(buyer=msg.sender, sold_id=i, tokens_sold=dx, bought_id=j, tokens_bought=dy)

    return dy


@external
@nonreentrant
def remove_liquidity(_amount: uint256, _min_amounts: uint256[N_COINS]) -> uint256[N_COINS]:
    amounts: uint256[N_COINS] = self._balances()
    lp_token: address = self.lp_token
    total_supply: uint256 = staticcall CurveToken(lp_token).totalSupply()
    extcall CurveToken(lp_token).burnFrom(msg.sender, _amount)  # dev: insufficient funds

    for i: uint256 in range(N):
        value: uint256 = amounts[i] * _amount // total_supply
        assert value >= _min_amounts[i], "Withdrawal resulted in fewer coins than expected"

        amounts[i] = value
        coin: address = self.coins[i]
        if coin == ETH_ADDRESS:
            raw_call(msg.sender, b"", value=value)
        else:
            assert extcall IERC20(coin).transfer(msg.sender, value, default_return_value=True)  # dev: failed transfer

    log RemoveLiquidity(provider=msg.sender, token_amounts=amounts, fees=empty(uint256[N_COINS]), token_supply=total_supply - _amount)

    return amounts
