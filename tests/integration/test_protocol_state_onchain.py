"""A market's own state, read and honoured before anything is sent: Aave V3's paused, frozen
and supply-capped reserves, its virtual balance as liquidity, its V3.5 rounding on chain, and
an ERC-4626 vault's deposit limit. Each refusal is named; the chain's own revert decodes to
the same name."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.chain import ChainActivities
from activities.deps import Deps
from floor.adapters.base import Deposit, Withdraw
from floor.adapters.registry import AdapterRegistry
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_liquidity, read_positions
from floor.devnet.context import Deployer
from floor.messages import BuildDepositsInput, BuildMovesInput
from floor.models import AdapterKey, units
from floor.planning.allocation import PlannedDeposit
from floor.planning.rebalance import Move
from floor.protocols.aave_v3.errors import ReserveFrozen, ReservePaused, SupplyCapExceeded
from floor.protocols.aave_v3.reserve import FROZEN_BIT, PAUSED_BIT, SUPPLY_CAP_BITS, SUPPLY_CAP_START_BIT
from floor.protocols.aave_v3.wadray import a_token_burn_scaled, a_token_mint_scaled
from floor.protocols.erc4626.errors import ExceededMaxDeposit
from tests.integration.helpers import advance_time, balance, contract, mint, protected_calls

AAVE_USDC = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
STEAK_USDC = AdapterKey(chain_id=1, protocol="metamorpho", market="steakUSDC")
USDC = 10**6


@pytest.fixture
def aave(settings, web3s, signer):
    """Aave V3's USDC reserve on chain 1 with 10,000 USDC of the treasury's in it, and 10,000
    more held by the executor."""
    w3, chain = web3s[1], settings.chain(1)
    adapter = AdapterRegistry.from_settings(settings).get(AAVE_USDC)
    client = ExecutorClient(w3, 1, chain.executor, signer)
    mint(w3, adapter.asset.address, chain.executor, 20_000 * USDC)
    client.execute(protected_calls(w3, adapter, Deposit(10_000 * USDC), chain.executor))
    return w3, chain, adapter, client


def configure(w3, adapter, *, set_bits: int = 0, clear_bits: int = 0) -> None:
    """What Aave's PoolConfigurator does: rewrite the reserve's configuration bitmap."""
    pool = contract(w3, "AaveV3Pool", adapter.pool)
    (word,) = pool.functions.getConfiguration(adapter.asset.address).call()
    Deployer(w3).send(pool.functions.setConfiguration(adapter.asset.address, ((word & ~clear_bits) | set_bits,)))


def refused_on_chain(w3, client, calls, signer) -> ExecutionReverted:
    nonce = w3.eth.get_transaction_count(signer.address)
    with pytest.raises(ExecutionReverted) as caught:
        client.execute(calls)
    assert w3.eth.get_transaction_count(signer.address) == nonce  # refused at estimation: no nonce used
    return caught.value


def activity_error(call, input) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call(input)
    assert caught.value.non_retryable
    return caught.value


def test_a_paused_reserve_lets_nothing_out_and_takes_nothing_in(aave, settings, web3s, signer):
    w3, chain, adapter, client = aave
    configure(w3, adapter, set_bits=1 << PAUSED_BIT)
    reader = MulticallReader(w3)

    (liquidity,) = read_liquidity(reader, [adapter], chain.executor)
    assert liquidity.withdrawable == 0 < liquidity.position and liquidity.market_available > 0

    # The engine's build steps refuse before anything is sent, each by name.
    activities = ChainActivities(Deps(settings, signer, web3s))
    withdraw = Move(key=AAVE_USDC, asset="USDC", action="withdraw", amount=1_000 * USDC)
    refused = activity_error(activities.build_moves, BuildMovesInput(chain_id=1, asset="USDC", moves=[withdraw]))
    assert refused.type == "InsufficientLiquidity" and refused.message.endswith("now: the reserve is paused")
    deposit = PlannedDeposit(key=AAVE_USDC, amount=1_000 * USDC)
    refused = activity_error(
        activities.build_deposit_calls, BuildDepositsInput(chain_id=1, asset="USDC", deposits=[deposit])
    )
    assert refused.type == "ReservePaused" and "the reserve is paused" in refused.message
    with pytest.raises(ReservePaused):
        protected_calls(w3, adapter, Deposit(1_000 * USDC), chain.executor)

    # Sent anyway, the pool refuses with Aave's own error, decoded to the same name.
    reverted = refused_on_chain(w3, client, adapter.withdraw_calls(1_000 * USDC, chain.executor), signer)
    assert reverted.reason.startswith("CallFailed(call 0): ReservePaused(): ReservePaused") and reverted.error == (
        "ReservePaused"
    )

    configure(w3, adapter, clear_bits=1 << PAUSED_BIT)
    client.execute(protected_calls(w3, adapter, Withdraw(1_000 * USDC), chain.executor))
    assert balance(w3, adapter.asset.address, chain.executor) == 11_000 * USDC


def test_a_frozen_reserve_refuses_deposits_and_lets_withdrawals_out(aave, signer):
    w3, chain, adapter, client = aave
    configure(w3, adapter, set_bits=1 << FROZEN_BIT)
    with pytest.raises(ReserveFrozen, match="the reserve is frozen; it takes no new deposit"):
        protected_calls(w3, adapter, Deposit(1_000 * USDC), chain.executor)
    reverted = refused_on_chain(w3, client, adapter.deposit_calls(1_000 * USDC, chain.executor), signer)
    assert reverted.error == "ReserveFrozen" and "ReserveFrozen()" in reverted.reason

    (liquidity,) = read_liquidity(MulticallReader(w3), [adapter], chain.executor)
    assert liquidity.withdrawable == liquidity.position
    client.execute(protected_calls(w3, adapter, Withdraw(4_000 * USDC), chain.executor))
    assert balance(w3, adapter.asset.address, chain.executor) == 14_000 * USDC


def test_a_deposit_above_the_supply_cap_is_refused_before_sending(aave, signer):
    w3, chain, adapter, client = aave
    supplied = contract(w3, "AaveAToken", adapter.a_token).functions.totalSupply().call()
    cap = supplied // USDC + 1_000  # whole tokens: about 1,000 USDC of room
    configure(
        w3, adapter, set_bits=cap << SUPPLY_CAP_START_BIT, clear_bits=(2**SUPPLY_CAP_BITS - 1) << SUPPLY_CAP_START_BIT
    )

    with pytest.raises(SupplyCapExceeded, match=f"supply cap of {cap} whole tokens"):
        protected_calls(w3, adapter, Deposit(2_000 * USDC), chain.executor)
    reverted = refused_on_chain(w3, client, adapter.deposit_calls(2_000 * USDC, chain.executor), signer)
    assert reverted.error == "SupplyCapExceeded"

    client.execute(protected_calls(w3, adapter, Deposit(900 * USDC), chain.executor))  # under the cap: it lands
    assert balance(w3, adapter.asset.address, chain.executor) == 9_100 * USDC


def test_tokens_sent_straight_to_the_atoken_are_not_liquidity(aave, settings, web3s, signer, stack):
    """Aave's liquidity is the pool's virtual balance: a donation to the aToken raises what
    it holds, not what a withdrawal can take. The engine reads the virtual balance, sees the
    shortage and refuses before sending; sent anyway, the virtual balance underflows."""
    w3, chain, adapter, client = aave
    pool = contract(w3, "AaveV3Pool", adapter.pool)
    virtual = pool.functions.getVirtualUnderlyingBalance(adapter.asset.address).call()
    participant = stack.chains[1].deployed.participant
    Deployer(w3).send(
        pool.functions.borrow(adapter.asset.address, virtual - 1_000 * USDC, 2, 0, participant), participant
    )
    mint(w3, adapter.asset.address, adapter.a_token, 50_000 * USDC)  # a donation

    (liquidity,) = read_liquidity(MulticallReader(w3), [adapter], chain.executor)
    held = balance(w3, adapter.asset.address, adapter.a_token)
    assert liquidity.market_available == pool.functions.getVirtualUnderlyingBalance(adapter.asset.address).call()
    assert liquidity.withdrawable == liquidity.market_available < liquidity.position < held

    move = Move(key=AAVE_USDC, asset="USDC", action="withdraw_all", amount=liquidity.position)
    refused = activity_error(
        ChainActivities(Deps(settings, signer, web3s)).build_moves,
        BuildMovesInput(chain_id=1, asset="USDC", moves=[move]),
    )
    can_take = units(liquidity.withdrawable, adapter.asset.decimals, "USDC")
    assert refused.type == "InsufficientLiquidity" and f"take {can_take} now" in refused.message
    reverted = refused_on_chain(w3, client, adapter.withdraw_calls(5_000 * USDC, chain.executor), signer)
    assert reverted.reason == "CallFailed(call 0): Panic(0x11: arithmetic overflow or underflow)"
    assert reverted.error is None  # not a protocol's named error: the engine's read is what names it


def test_the_pool_rounds_scaled_amounts_as_aave_v35(aave):
    """Minted down, burnt up, at an index well above 1."""
    w3, chain, adapter, client = aave
    advance_time(w3, 400 * 24 * 3600)
    pool = contract(w3, "AaveV3Pool", adapter.pool)
    a_token = contract(w3, "AaveAToken", adapter.a_token)

    def scaled(block):
        return a_token.functions.scaledBalanceOf(chain.executor).call(block_identifier=block)

    def index(block):
        return pool.functions.getReserveNormalizedIncome(adapter.asset.address).call(block_identifier=block)

    before = scaled("latest")
    mined = client.execute(adapter.deposit_calls(7_777_777, chain.executor))
    assert index(mined.block_number) % 10**27 != 0
    assert scaled(mined.block_number) - before == a_token_mint_scaled(7_777_777, index(mined.block_number))

    before = scaled(mined.block_number)
    mined = client.execute(adapter.withdraw_calls(3_333_333, chain.executor))
    assert before - scaled(mined.block_number) == a_token_burn_scaled(3_333_333, index(mined.block_number))
    (position,) = read_positions(MulticallReader(w3), [adapter], chain.executor)
    expected = scaled(position.block_number) * index(position.block_number) // 10**27  # rounded down
    assert position.amount == expected


def test_a_vault_deposit_above_its_max_deposit_is_refused_before_sending(settings, web3s, signer):
    w3, chain = web3s[1], settings.chain(1)
    adapter = AdapterRegistry.from_settings(settings).get(STEAK_USDC)
    vault = contract(w3, "ERC4626Vault", adapter.vault)
    client = ExecutorClient(w3, 1, chain.executor, signer)
    mint(w3, adapter.asset.address, chain.executor, 5_000 * USDC)
    Deployer(w3).send(vault.functions.setDepositCap(vault.functions.totalAssets().call() + 1_000 * USDC))

    with pytest.raises(ExceededMaxDeposit, match="more than the vault takes now"):
        protected_calls(w3, adapter, Deposit(2_000 * USDC), chain.executor)
    reverted = refused_on_chain(w3, client, adapter.deposit_calls(2_000 * USDC, chain.executor), signer)
    assert reverted.error == "ExceededMaxDeposit" and "ERC4626ExceededMaxDeposit(" in reverted.reason

    client.execute(protected_calls(w3, adapter, Deposit(900 * USDC), chain.executor))
    assert balance(w3, adapter.asset.address, chain.executor) == 4_100 * USDC
