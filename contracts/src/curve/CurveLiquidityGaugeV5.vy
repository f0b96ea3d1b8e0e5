# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title CurveLiquidityGaugeV5 (local stand-in)
@notice Stakes a Curve pool's LP token and pays CRV (through the Minter) and reward tokens.
    Follows curvefi/curve-dao-contracts contracts/gauges/LiquidityGaugeV5.vy: `deposit(_value,
    _addr=msg.sender, _claim_rewards=False)`, `withdraw(_value, _claim_rewards=False)`,
    `_checkpoint` integrating `rate * weight * dt / working_supply` into
    `integrate_inv_supply` and each account's `integrate_fraction` (what the Minter mints),
    `user_checkpoint` (the account or the Minter), `claimable_tokens` (nonpayable: it
    checkpoints, then returns integrate_fraction - Minter.minted), working balances at
    TOKENLESS_PRODUCTION = 40% of the stake, and V5's reward tokens (`add_reward`,
    `deposit_reward_token` streamed over a WEEK, `claim_rewards(_addr, _receiver)`,
    `claimable_reward`, `claimed_reward`).
    Left out: veCRV boost (no VotingEscrow: every working balance is 40% of the stake), the
    GaugeController and CRV's epoch schedule (the admin sets `inflation_rate`, the CRV per
    second this gauge's relative weight gets; the weight is 1e18), `kick`, the gauge token's
    own transfers and allowances, `set_rewards_receiver`, ownership transfer.
"""

from ethereum.ercs import IERC20

interface Minter:
    def minted(user: address, gauge: address) -> uint256: view


event Deposit:
    provider: indexed(address)
    value: uint256

event Withdraw:
    provider: indexed(address)
    value: uint256

event UpdateLiquidityLimit:
    user: address
    original_balance: uint256
    original_supply: uint256
    working_balance: uint256
    working_supply: uint256


struct Reward:
    token: address
    distributor: address
    period_finish: uint256
    rate: uint256
    last_update: uint256
    integral: uint256


MAX_REWARDS: constant(uint256) = 8
TOKENLESS_PRODUCTION: constant(uint256) = 40
WEEK: constant(uint256) = 604800
WEIGHT: constant(uint256) = 10 ** 18  # the gauge's relative weight (GaugeController), all of its rate

lp_token: public(address)
minter: public(address)
crv_token: public(address)
admin: public(address)
is_killed: public(bool)

balanceOf: public(HashMap[address, uint256])
totalSupply: public(uint256)
working_balances: public(HashMap[address, uint256])
working_supply: public(uint256)

# The goal is to be able to calculate ∫(rate * balance / totalSupply dt) from 0 till checkpoint
period: public(int128)
period_timestamp: public(HashMap[int128, uint256])
integrate_inv_supply: public(HashMap[int128, uint256])  # bump epoch when rate() changes
integrate_inv_supply_of: public(HashMap[address, uint256])
integrate_checkpoint_of: public(HashMap[address, uint256])
integrate_fraction: public(HashMap[address, uint256])  # ∫(balance * rate(t) / totalSupply(t) dt) from 0 till checkpoint
inflation_rate: public(uint256)

# reward token -> claiming address -> integral
reward_count: public(uint256)
reward_tokens: public(address[MAX_REWARDS])
reward_data: public(HashMap[address, Reward])
reward_integral_for: public(HashMap[address, HashMap[address, uint256]])
# user -> token -> [uint128 claimable amount][uint128 claimed amount]
claim_data: HashMap[address, HashMap[address, uint256]]


@deploy
def __init__(_lp_token: address, _minter: address, _crv: address, _admin: address, _inflation_rate: uint256):
    self.lp_token = _lp_token
    self.minter = _minter
    self.crv_token = _crv
    self.admin = _admin
    self.period_timestamp[0] = block.timestamp
    self.inflation_rate = _inflation_rate


@view
@external
def integrate_checkpoint() -> uint256:
    return self.period_timestamp[self.period]


@internal
def _update_liquidity_limit(addr: address, l: uint256, L: uint256):
    # To be called after totalSupply is updated. No veCRV: the working balance is 40% of l.
    lim: uint256 = l * TOKENLESS_PRODUCTION // 100
    lim = min(l, lim)
    old_bal: uint256 = self.working_balances[addr]
    self.working_balances[addr] = lim
    _working_supply: uint256 = self.working_supply + lim - old_bal
    self.working_supply = _working_supply

    log UpdateLiquidityLimit(user=addr, original_balance=l, original_supply=L, working_balance=lim, working_supply=_working_supply)


@internal
def _checkpoint_rewards(_user: address, _total_supply: uint256, _claim: bool, _receiver: address):
    user_balance: uint256 = 0
    receiver: address = _receiver
    if _user != empty(address):
        user_balance = self.balanceOf[_user]
        if _claim and _receiver == empty(address):
            receiver = _user

    reward_count: uint256 = self.reward_count
    for i: uint256 in range(MAX_REWARDS):
        if i == reward_count:
            break
        token: address = self.reward_tokens[i]

        integral: uint256 = self.reward_data[token].integral
        last_update: uint256 = min(block.timestamp, self.reward_data[token].period_finish)
        duration: uint256 = last_update - self.reward_data[token].last_update
        if duration != 0:
            self.reward_data[token].last_update = last_update
            if _total_supply != 0:
                integral += duration * self.reward_data[token].rate * 10**18 // _total_supply
                self.reward_data[token].integral = integral

        if _user != empty(address):
            integral_for: uint256 = self.reward_integral_for[token][_user]
            new_claimable: uint256 = 0

            if integral_for < integral:
                self.reward_integral_for[token][_user] = integral
                new_claimable = user_balance * (integral - integral_for) // 10**18

            claim_data: uint256 = self.claim_data[_user][token]
            total_claimable: uint256 = (claim_data >> 128) + new_claimable
            if total_claimable > 0:
                total_claimed: uint256 = claim_data % 2**128
                if _claim:
                    assert extcall IERC20(token).transfer(receiver, total_claimable, default_return_value=True)
                    self.claim_data[_user][token] = total_claimed + total_claimable
                elif new_claimable > 0:
                    self.claim_data[_user][token] = total_claimed + (total_claimable << 128)


@internal
def _checkpoint(addr: address):
    _period: int128 = self.period
    _period_time: uint256 = self.period_timestamp[_period]
    _integrate_inv_supply: uint256 = self.integrate_inv_supply[_period]
    rate: uint256 = self.inflation_rate

    if self.is_killed:
        # Stop distributing inflation as soon as killed
        rate = 0

    # Update integral of 1/supply
    if block.timestamp > _period_time:
        _working_supply: uint256 = self.working_supply
        if _working_supply > 0:
            _integrate_inv_supply += rate * WEIGHT * (block.timestamp - _period_time) // _working_supply

    _period += 1
    self.period = _period
    self.period_timestamp[_period] = block.timestamp
    self.integrate_inv_supply[_period] = _integrate_inv_supply

    # Update user-specific integrals
    _working_balance: uint256 = self.working_balances[addr]
    self.integrate_fraction[addr] += _working_balance * (_integrate_inv_supply - self.integrate_inv_supply_of[addr]) // 10 ** 18
    self.integrate_inv_supply_of[addr] = _integrate_inv_supply
    self.integrate_checkpoint_of[addr] = block.timestamp


@external
def user_checkpoint(addr: address) -> bool:
    assert msg.sender == addr or msg.sender == self.minter  # dev: unauthorized
    self._checkpoint(addr)
    self._update_liquidity_limit(addr, self.balanceOf[addr], self.totalSupply)
    return True


@external
def claimable_tokens(addr: address) -> uint256:
    """
    @dev This function should be manually changed to "view" in the ABI
    """
    self._checkpoint(addr)
    return self.integrate_fraction[addr] - staticcall Minter(self.minter).minted(addr, self)


@view
@external
def claimed_reward(_addr: address, _token: address) -> uint256:
    return self.claim_data[_addr][_token] % 2**128


@view
@external
def claimable_reward(_user: address, _reward_token: address) -> uint256:
    integral: uint256 = self.reward_data[_reward_token].integral
    total_supply: uint256 = self.totalSupply
    if total_supply != 0:
        last_update: uint256 = min(block.timestamp, self.reward_data[_reward_token].period_finish)
        duration: uint256 = last_update - self.reward_data[_reward_token].last_update
        integral += (duration * self.reward_data[_reward_token].rate * 10**18 // total_supply)

    integral_for: uint256 = self.reward_integral_for[_reward_token][_user]
    new_claimable: uint256 = self.balanceOf[_user] * (integral - integral_for) // 10**18

    return (self.claim_data[_user][_reward_token] >> 128) + new_claimable


@external
@nonreentrant
def claim_rewards(_addr: address = msg.sender, _receiver: address = empty(address)):
    if _receiver != empty(address):
        assert _addr == msg.sender  # dev: cannot redirect when claiming for another user
    self._checkpoint_rewards(_addr, self.totalSupply, True, _receiver)


@external
@nonreentrant
def deposit(_value: uint256, _addr: address = msg.sender, _claim_rewards: bool = False):
    self._checkpoint(_addr)

    if _value != 0:
        is_rewards: bool = self.reward_count != 0
        total_supply: uint256 = self.totalSupply
        if is_rewards:
            self._checkpoint_rewards(_addr, total_supply, _claim_rewards, empty(address))

        total_supply += _value
        new_balance: uint256 = self.balanceOf[_addr] + _value
        self.balanceOf[_addr] = new_balance
        self.totalSupply = total_supply

        self._update_liquidity_limit(_addr, new_balance, total_supply)

        assert extcall IERC20(self.lp_token).transferFrom(msg.sender, self, _value, default_return_value=True)

    log Deposit(provider=_addr, value=_value)


@external
@nonreentrant
def withdraw(_value: uint256, _claim_rewards: bool = False):
    self._checkpoint(msg.sender)

    if _value != 0:
        is_rewards: bool = self.reward_count != 0
        total_supply: uint256 = self.totalSupply
        if is_rewards:
            self._checkpoint_rewards(msg.sender, total_supply, _claim_rewards, empty(address))

        total_supply -= _value
        new_balance: uint256 = self.balanceOf[msg.sender] - _value
        self.balanceOf[msg.sender] = new_balance
        self.totalSupply = total_supply

        self._update_liquidity_limit(msg.sender, new_balance, total_supply)

        assert extcall IERC20(self.lp_token).transfer(msg.sender, _value, default_return_value=True)

    log Withdraw(provider=msg.sender, value=_value)


@external
def add_reward(_reward_token: address, _distributor: address):
    assert msg.sender == self.admin  # dev: only owner

    reward_count: uint256 = self.reward_count
    assert reward_count < MAX_REWARDS
    assert self.reward_data[_reward_token].distributor == empty(address)

    self.reward_data[_reward_token].distributor = _distributor
    self.reward_tokens[reward_count] = _reward_token
    self.reward_count = reward_count + 1


@external
@nonreentrant
def deposit_reward_token(_reward_token: address, _amount: uint256):
    assert msg.sender == self.reward_data[_reward_token].distributor

    self._checkpoint_rewards(empty(address), self.totalSupply, False, empty(address))

    assert extcall IERC20(_reward_token).transferFrom(msg.sender, self, _amount, default_return_value=True)

    period_finish: uint256 = self.reward_data[_reward_token].period_finish
    if block.timestamp >= period_finish:
        self.reward_data[_reward_token].rate = _amount // WEEK
    else:
        remaining: uint256 = period_finish - block.timestamp
        leftover: uint256 = remaining * self.reward_data[_reward_token].rate
        self.reward_data[_reward_token].rate = (_amount + leftover) // WEEK

    self.reward_data[_reward_token].last_update = block.timestamp
    self.reward_data[_reward_token].period_finish = block.timestamp + WEEK


@external
def set_inflation_rate(_rate: uint256):
    """
    @notice The stand-in's replacement for CRV.rate() x the GaugeController's weight
    """
    assert msg.sender == self.admin
    self._checkpoint(empty(address))
    self.inflation_rate = _rate


@external
def set_killed(_is_killed: bool):
    assert msg.sender == self.admin
    self.is_killed = _is_killed


@view
@external
def decimals() -> uint256:
    return 18
