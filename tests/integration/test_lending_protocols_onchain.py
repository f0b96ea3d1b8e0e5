"""Compound V3 (Comet) and Morpho Blue through the executor on the session's local stack:
deposit, time passes, the yield shows in the position and in the rate measured between two
index snapshots, partial and full withdrawal, each read back to the base unit against the
protocol's own view (Comet's `balanceOf`; Morpho's supply shares valued at the accrued
totals). No allowance outlives a batch. A paused Comet is reported and not written to; COMP
rewards accrue and a claim pays the executor; the executor refuses a Morpho withdrawal to
anyone else."""

from __future__ import annotations

import pytest

from floor.adapters.base import Deposit, PositionReading, Withdraw, WithdrawAll
from floor.adapters.registry import AdapterRegistry
from floor.calls import call
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions, read_rate_snapshots
from floor.devnet.context import Deployer
from floor.models import AdapterKey
from floor.protocols.compound_v3.adapter import BASE_INDEX_SCALE, present_value_supply, supply_delta
from floor.protocols.compound_v3.errors import SupplyPaused, WithdrawPaused
from floor.protocols.morpho_blue.adapter import (
    WITHDRAW,
    MarketState,
    expected_market,
    supply_apr,
    to_assets_down,
)
from floor.rates import quoted_rate, realised_rate
from tests.integration.helpers import advance_time, balance, contract, mint, protected_calls

DAY = 24 * 3600
COMET = AdapterKey(chain_id=1, protocol="compound-v3", market="cUSDCv3")
MORPHO = AdapterKey(chain_id=1, protocol="morpho-blue", market="USDC-WETH-86")


def setup(settings, web3s, signer, key):
    w3 = web3s[key.chain_id]
    executor = settings.chain(key.chain_id).executor
    adapter = AdapterRegistry.from_settings(settings).get(key)
    return w3, executor, adapter, MulticallReader(w3), ExecutorClient(w3, key.chain_id, executor, signer)


def allowance(w3, token: str, owner: str, spender: str) -> int:
    return contract(w3, "TestERC20", token).functions.allowance(owner, spender).call()


def comet_state(comet, executor: str, block: int) -> tuple[int, int]:
    """The executor's principal and the Comet's stored supply index at `block`."""
    principal = comet.functions.userBasic(executor).call(block_identifier=block)[0]
    return principal, comet.functions.totalsBasic().call(block_identifier=block)[0]


# ---------------------------------------------------------------------------- Compound V3


@pytest.mark.parametrize("chain_id", [1, 42161])
def test_comet_deposit_accrue_withdraw(stack, settings, web3s, signer, chain_id):
    key = AdapterKey(chain_id=chain_id, protocol="compound-v3", market="cUSDCv3")
    w3, executor, adapter, reader, client = setup(settings, web3s, signer, key)
    comet = contract(w3, "Comet", adapter.comet)
    usdc = adapter.asset.address
    amount = 250_000 * 10**6 + 7
    mint(w3, usdc, executor, amount)

    # The quote is Comet's own rounding at the quote's block: the supply's principal rounded
    # down, so the balance rises by the amount or a unit or two less.
    reads = adapter.quote_reads(Deposit(amount), executor)
    quote = adapter.decode_quote(Deposit(amount), reader.read(reads).results)
    assert quote[0].token == adapter.comet and amount - 2 <= quote[0].delta <= amount
    client.execute(protected_calls(w3, adapter, Deposit(amount), executor))
    assert balance(w3, usdc, executor) == 0
    assert allowance(w3, usdc, executor, adapter.comet) == 0

    (position,) = read_positions(reader, [adapter], executor)
    principal, index = comet_state(comet, executor, position.block_number)
    assert position.amount == comet.functions.balanceOf(executor).call(block_identifier=position.block_number)
    assert position.amount == present_value_supply(index, principal) == supply_delta(0, amount, index)
    assert index >= BASE_INDEX_SCALE and amount - 2 <= position.amount <= amount

    before = read_rate_snapshots(reader, [adapter])[0]
    advance_time(w3, 30 * DAY)
    after = read_rate_snapshots(reader, [adapter])[0]
    (grown,) = read_positions(reader, [adapter], executor)
    assert grown.amount == comet.functions.balanceOf(executor).call(block_identifier=grown.block_number)
    assert grown.amount > position.amount, "interest should show in the position after 30 days"
    realised, quoted = realised_rate(before, after), quoted_rate(after)
    assert realised.apy > realised.apr > 0 and quoted.apy > quoted.apr > 0
    # Nothing accrued in between: the index grew by simple interest at the quoted rate.
    assert realised.apr == pytest.approx(quoted.apr, rel=1e-6)
    # The snapshot's index is Comet's own, accrued to the block (1e15 scaled to 1e27).
    Deployer(w3).send(comet.functions.accrueAccount(executor))  # any account may
    snapshot = read_rate_snapshots(reader, [adapter])[0]
    assert snapshot.growth_index == comet.functions.totalsBasic().call()[0] * 10**12

    part = amount // 3
    client.execute(protected_calls(w3, adapter, Withdraw(part), executor))
    assert balance(w3, usdc, executor) == part
    (rest,) = read_positions(reader, [adapter], executor)
    assert rest.amount == comet.functions.balanceOf(executor).call(block_identifier=rest.block_number)
    principal, index = comet_state(comet, executor, rest.block_number)
    assert rest.amount == present_value_supply(index, principal)

    client.execute(protected_calls(w3, adapter, WithdrawAll(PositionReading(rest.amount)), executor))
    (empty,) = read_positions(reader, [adapter], executor)
    assert empty.amount == 0 and comet.functions.userBasic(executor).call()[0] == 0
    returned = balance(w3, usdc, executor) - part
    assert rest.amount <= returned <= rest.amount * (1 + 1e-6)
    assert part + returned > amount  # the deposit came back with interest
    assert allowance(w3, usdc, executor, adapter.comet) == 0


def test_paused_comet_is_reported_and_not_written_to(stack, settings, web3s, signer):
    w3, executor, adapter, reader, client = setup(settings, web3s, signer, COMET)
    comet = contract(w3, "Comet", adapter.comet)
    guardian = stack.chains[1].deployed.guardian
    amount = 10_000 * 10**6
    mint(w3, adapter.asset.address, executor, 2 * amount)
    client.execute(protected_calls(w3, adapter, Deposit(amount), executor))

    w3.eth.wait_for_transaction_receipt(
        comet.functions.pause(False, False, True, False, False).transact({"from": guardian})
    )
    reading = adapter.decode_liquidity(reader.read(adapter.liquidity_reads(executor)).results)
    assert reading.withdrawable == 0 < reading.position and reading.reason == "withdrawals are paused on the Comet"
    nonce = w3.eth.get_transaction_count(signer.address)
    for action in (Withdraw(1), WithdrawAll(PositionReading(reading.position))):
        with pytest.raises(WithdrawPaused):
            protected_calls(w3, adapter, action, executor)
    # Sent anyway, the Comet refuses with its own error, named, before anything is signed.
    with pytest.raises(ExecutionReverted, match=r"Paused\(\)") as caught:
        client.execute(adapter.withdraw_calls(1, executor))
    assert caught.value.error == "CometPaused"

    w3.eth.wait_for_transaction_receipt(
        comet.functions.pause(True, False, False, False, False).transact({"from": guardian})
    )
    with pytest.raises(SupplyPaused):
        protected_calls(w3, adapter, Deposit(amount), executor)
    assert w3.eth.get_transaction_count(signer.address) == nonce  # nothing was sent
    assert balance(w3, adapter.asset.address, executor) == amount


def test_comp_rewards_accrue_and_claim_pays_the_executor(stack, settings, web3s, signer):
    w3, executor, adapter, reader, client = setup(settings, web3s, signer, COMET)
    market = settings.chain(1).market(COMET.protocol, COMET.market)
    comp = market.reward_token
    rewards = contract(w3, "CometRewards", adapter.rewards)
    amount = 500_000 * 10**6
    mint(w3, adapter.asset.address, executor, amount)
    client.execute(protected_calls(w3, adapter, Deposit(amount), executor))

    owed = adapter.reward_owed(reader.read(adapter.reward_reads(executor)).results)
    assert owed.token == comp and owed.amount == 0
    advance_time(w3, 10 * DAY)
    owed = adapter.reward_owed(reader.read(adapter.reward_reads(executor)).results)
    assert owed.token == comp and owed.amount > 0
    # getRewardOwed ran in an eth_call: it accrued nothing on chain.
    assert contract(w3, "Comet", adapter.comet).functions.baseTrackingAccrued(executor).call() == 0

    # A claim for anyone but the executor is refused by the executor's rules.
    other = stack.chains[1].deployed.participant
    with pytest.raises(ExecutionReverted, match=r"ArgumentNotAllowed\(call 0: argument 1 is "):
        client.execute([call(adapter.rewards, "claim(address,address,bool)", adapter.comet, other, True)])

    client.execute(adapter.claim_calls(executor))
    paid = balance(w3, comp, executor)
    assert paid >= owed.amount  # the claim's block is later than the read's: a few seconds more
    assert rewards.functions.rewardsClaimed(adapter.comet, executor).call() == paid
    after = adapter.reward_owed(reader.read(adapter.reward_reads(executor)).results)
    assert after.amount == 0


# ---------------------------------------------------------------------------- Morpho Blue


def morpho_market(morpho, market_id: bytes, block: int) -> MarketState:
    return MarketState(*morpho.functions.market(market_id).call(block_identifier=block))


def expected_supply_assets(w3, adapter, morpho, shares: int, block: int) -> tuple[int, MarketState, int]:
    """MorphoBalancesLib.expectedSupplyAssets at `block`: the stored market, the IRM's
    borrowRateView for it, the accrual to the block's time, shares valued rounding down."""
    stored = morpho_market(morpho, adapter.id, block)
    rate = MulticallReader(w3).read(adapter.borrow_rate_reads(stored), block).results
    borrow_rate = adapter.decode_borrow_rate(rate)
    now = w3.eth.get_block(block)["timestamp"]
    market = expected_market(stored, borrow_rate, now)
    return to_assets_down(shares, market.total_supply_assets, market.total_supply_shares), stored, borrow_rate


def test_morpho_deposit_accrue_withdraw(stack, settings, web3s, signer):
    w3, executor, adapter, reader, client = setup(settings, web3s, signer, MORPHO)
    morpho = contract(w3, "Morpho", adapter.morpho)
    usdc = adapter.asset.address
    amount = 250_000 * 10**6 + 3
    mint(w3, usdc, executor, amount)

    client.execute(protected_calls(w3, adapter, Deposit(amount), executor))
    assert balance(w3, usdc, executor) == 0
    assert allowance(w3, usdc, executor, adapter.morpho) == 0
    (position,) = read_positions(reader, [adapter], executor)
    shares = morpho.functions.position(adapter.id, executor).call()[0]
    assert position.shares == shares > 0
    expected, _, _ = expected_supply_assets(w3, adapter, morpho, shares, position.block_number)
    assert position.amount == expected
    assert amount - 1 <= position.amount <= amount  # shares minted rounding down

    before = read_rate_snapshots(reader, [adapter])[0]
    advance_time(w3, 30 * DAY)
    after = read_rate_snapshots(reader, [adapter])[0]
    (grown,) = read_positions(reader, [adapter], executor)
    expected, stored, borrow_rate = expected_supply_assets(w3, adapter, morpho, shares, grown.block_number)
    assert grown.amount == expected > position.amount, "interest should show in the position after 30 days"
    # Nothing was written: the reads accrued inside their eth_call only.
    assert morpho_market(morpho, adapter.id, grown.block_number) == stored
    realised = realised_rate(before, after)
    assert realised.apy > realised.apr > 0
    # The IRM's rate x utilisation (no fee here), simple; the realised rate compounds the
    # borrow by Taylor's series over the month, so a little above it.
    quoted = supply_apr(borrow_rate, stored)
    assert quoted < realised.apr < quoted * 1.01

    # The index is Morpho's own after accrual: accrue in a transaction and compare.
    w3.eth.wait_for_transaction_receipt(
        morpho.functions.accrueInterest(adapter.params).transact({"from": w3.eth.accounts[0]})
    )
    snapshot = read_rate_snapshots(reader, [adapter])[0]
    m = morpho_market(morpho, adapter.id, w3.eth.block_number)
    assert snapshot.growth_index == (m.total_supply_assets + 1) * 10**27 // (m.total_supply_shares + 10**6)

    part = amount // 3
    client.execute(protected_calls(w3, adapter, Withdraw(part), executor))
    assert balance(w3, usdc, executor) == part
    assert allowance(w3, usdc, executor, adapter.morpho) == 0
    (rest,) = read_positions(reader, [adapter], executor)
    m = morpho_market(morpho, adapter.id, rest.block_number)  # the withdrawal accrued it
    shares = morpho.functions.position(adapter.id, executor).call()[0]
    assert rest.shares == shares and rest.amount == to_assets_down(shares, m.total_supply_assets, m.total_supply_shares)

    client.execute(protected_calls(w3, adapter, WithdrawAll(PositionReading(rest.amount, rest.shares)), executor))
    (empty,) = read_positions(reader, [adapter], executor)
    assert empty.amount == 0 and empty.shares == 0
    assert morpho.functions.position(adapter.id, executor).call()[0] == 0  # no dust
    returned = balance(w3, usdc, executor) - part
    assert rest.amount <= returned <= rest.amount * (1 + 1e-6)
    assert part + returned > amount


def test_executor_refuses_a_morpho_withdrawal_to_anyone_else(stack, settings, web3s, signer):
    """MarketParams is five static words, so onBehalf is word 7 and receiver word 8: the rules
    scope exactly those."""
    w3, executor, adapter, _reader, client = setup(settings, web3s, signer, MORPHO)
    amount = 10_000 * 10**6
    mint(w3, adapter.asset.address, executor, amount)
    client.execute(adapter.deposit_calls(amount, executor))
    other = stack.chains[1].deployed.participant

    to_other = call(adapter.morpho, WITHDRAW, adapter.params, 1_000, 0, executor, other)
    on_behalf_of_other = call(adapter.morpho, WITHDRAW, adapter.params, 1_000, 0, other, executor)
    assert "argument 8" in adapter.permissions().refusal(to_other, executor)
    assert "argument 7" in adapter.permissions().refusal(on_behalf_of_other, executor)
    nonce = w3.eth.get_transaction_count(signer.address)
    with pytest.raises(ExecutionReverted, match=r"ArgumentNotAllowed\(call 0: argument 8 is "):
        client.execute([to_other])
    with pytest.raises(ExecutionReverted, match=r"ArgumentNotAllowed\(call 0: argument 7 is "):
        client.execute([on_behalf_of_other])
    assert w3.eth.get_transaction_count(signer.address) == nonce
    # To itself it goes through.
    client.execute(adapter.withdraw_calls(1_000, executor))
    assert balance(w3, adapter.asset.address, executor) == 1_000
