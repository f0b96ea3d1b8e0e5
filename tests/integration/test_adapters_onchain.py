"""Deposit and withdraw through the executor in every adapter kind, on both chains, and read
the positions back from the chain to the base unit."""

from __future__ import annotations

import pytest
from eth_abi import decode

from floor.adapters.base import Asset, Deposit, PositionReading, Withdraw, WithdrawAll
from floor.adapters.registry import AdapterRegistry
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_liquidity, read_positions, read_rate_snapshots
from floor.devnet.context import Deployer
from floor.models import AdapterKey
from floor.rates import quoted_rate, realised_rate
from tests.integration.helpers import (
    advance_time,
    balance,
    check_deposit_position,
    contract,
    mint,
    protected_calls,
)

MARKETS = [
    (1, "aave-v3", "USDC", 250_000),
    (1, "metamorpho", "steakUSDC", 250_000),
    (1, "spark", "DAI", 10_000),
    (1, "sdai", "sDAI", 10_000),
    (42161, "aave-v3", "WETH", 12),
    (42161, "metamorpho", "gtUSDC", 75_000),
]


@pytest.mark.parametrize(("chain_id", "protocol", "market", "whole_tokens"), MARKETS)
def test_deposit_accrue_withdraw(stack, settings, web3s, signer, chain_id, protocol, market, whole_tokens):
    w3 = web3s[chain_id]
    chain = settings.chain(chain_id)
    executor_address = chain.executor
    adapter = AdapterRegistry.from_settings(settings).get(
        AdapterKey(chain_id=chain_id, protocol=protocol, market=market)
    )
    reader = MulticallReader(w3)
    client = ExecutorClient(w3, chain_id, executor_address, signer)
    token = adapter.asset.address
    amount = whole_tokens * 10**adapter.asset.decimals
    mint(w3, token, executor_address, amount)

    client.execute(protected_calls(w3, adapter, Deposit(amount), executor_address))

    (position,) = read_positions(reader, [adapter], executor_address)
    check_deposit_position(w3, adapter, position, amount)  # to the base unit
    assert balance(w3, token, executor_address) == 0
    spender = getattr(adapter, "pool", None) or adapter.vault
    assert contract(w3, "TestERC20", token).functions.allowance(executor_address, spender).call() == 0

    before = read_rate_snapshots(reader, [adapter])[0]
    advance_time(w3, 30 * 24 * 3600)
    after = read_rate_snapshots(reader, [adapter])[0]
    (grown,) = read_positions(reader, [adapter], executor_address)
    assert grown.amount > position.amount, "interest should show in the position after 30 days"
    realised = realised_rate(before, after)
    assert realised.apy > realised.apr > 0
    if protocol in ("aave-v3", "spark"):
        quoted = quoted_rate(after)
        assert quoted.apy > quoted.apr > 0

    # Partial withdrawal: exactly that many base units come back. The rest keeps earning in
    # the block the withdrawal is mined (chain time moves on), a few seconds of interest.
    part = amount // 3
    client.execute(protected_calls(w3, adapter, Withdraw(part), executor_address))
    assert balance(w3, token, executor_address) == part
    (rest,) = read_positions(reader, [adapter], executor_address)
    assert grown.amount - part - 1 <= rest.amount <= (grown.amount - part) * (1 + 1e-6)

    # Everything else, interest included; nothing left behind.
    (liquidity,) = read_liquidity(reader, [adapter], executor_address)
    assert liquidity.withdrawable == rest.amount
    client.execute(
        protected_calls(w3, adapter, WithdrawAll(PositionReading(rest.amount, rest.shares)), executor_address)
    )
    (empty,) = read_positions(reader, [adapter], executor_address)
    assert empty.amount == 0 and (empty.shares in (None, 0))
    returned = balance(w3, token, executor_address) - part
    assert rest.amount <= returned <= rest.amount * (1 + 1e-6)
    assert part + returned > amount  # the deposit came back with interest


def test_withdraw_limited_by_borrowed_liquidity(stack, settings, web3s, signer):
    """When borrowers have taken the market's cash, the liquidity read says so and a larger
    withdrawal is refused before anything is sent: as on Aave from V3.1, the pool's virtual
    balance underflows (Panic 0x11), it has no named error for it."""
    from floor.chain.errors import ExecutionReverted

    chain_id = 1
    w3 = web3s[chain_id]
    chain = settings.chain(chain_id)
    adapter = AdapterRegistry.from_settings(settings).get(AdapterKey(chain_id=1, protocol="aave-v3", market="USDC"))
    reader = MulticallReader(w3)
    client = ExecutorClient(w3, chain_id, chain.executor, signer)
    amount = 100_000 * 10**6
    mint(w3, adapter.asset.address, chain.executor, amount)
    client.execute(adapter.deposit_calls(amount, chain.executor))

    # Another participant borrows almost all the reserve's cash.
    (liq,) = read_liquidity(reader, [adapter], chain.executor)
    pool = contract(w3, "AaveV3Pool", adapter.pool)
    participant = stack.chains[chain_id].deployed.participant
    w3.eth.wait_for_transaction_receipt(
        pool.functions.borrow(adapter.asset.address, liq.market_available - 10 * 10**6, 2, 0, participant).transact(
            {"from": participant}
        )
    )

    (liq,) = read_liquidity(reader, [adapter], chain.executor)
    assert liq.withdrawable == 10 * 10**6 < liq.position
    nonce = w3.eth.get_transaction_count(signer.address)
    with pytest.raises(
        ExecutionReverted, match=r"^CallFailed\(call 0\): Panic\(0x11: arithmetic overflow or underflow\)$"
    ):
        client.execute(adapter.withdraw_calls(liq.position, chain.executor))
    assert w3.eth.get_transaction_count(signer.address) == nonce  # no nonce burned


def test_vault_withdrawable_is_limited_by_idle_liquidity(stack, settings, web3s, signer):
    """A vault that has lent out most of its assets lets the treasury take only what is idle;
    the position keeps its full value and a larger withdrawal is refused before sending."""
    from floor.chain.errors import ExecutionReverted

    w3 = web3s[42161]
    chain = settings.chain(42161)
    adapter = AdapterRegistry.from_settings(settings).get(
        AdapterKey(chain_id=42161, protocol="metamorpho", market="gtUSDC")
    )
    reader = MulticallReader(w3)
    client = ExecutorClient(w3, 42161, chain.executor, signer)
    amount = 500_000 * 10**6
    mint(w3, adapter.asset.address, chain.executor, amount)
    client.execute(adapter.deposit_calls(amount, chain.executor))

    # The vault's curator lends most of the idle assets to a borrower.
    vault = contract(w3, "ERC4626Vault", adapter.vault)
    idle = vault.functions.idleAssets().call()
    participant = stack.chains[42161].deployed.participant
    w3.eth.wait_for_transaction_receipt(
        vault.functions.lend(idle - 100_000 * 10**6, participant).transact({"from": w3.eth.accounts[0]})
    )

    (liq,) = read_liquidity(reader, [adapter], chain.executor)
    (position,) = read_positions(reader, [adapter], chain.executor)
    assert liq.market_available == liq.withdrawable == 100_000 * 10**6
    assert position.amount >= amount - 1 and liq.position == position.amount
    with pytest.raises(
        ExecutionReverted,
        match=rf"CallFailed\(call 0\): ERC4626ExceededMaxWithdraw\({chain.executor}, {liq.withdrawable + 1}, {liq.withdrawable}\)",
    ):
        client.execute(adapter.withdraw_calls(liq.withdrawable + 1, chain.executor))
    client.execute(adapter.withdraw_calls(liq.withdrawable, chain.executor))
    assert balance(w3, adapter.asset.address, chain.executor) == 100_000 * 10**6


def test_a_metamorpho_vault_short_of_liquidity_is_refused_at_the_quote_and_its_revert_named(
    stack, settings, web3s, signer
):
    """MetaMorpho's previews ignore liquidity and its withdraw reverts NotEnoughLiquidity()
    past it (the stand-in switched to MetaMorpho's errors): the quote reads maxWithdraw and
    maxRedeem and refuses first; the revert, when sent anyway, is named."""
    from floor.chain.errors import ExecutionReverted
    from floor.errors import InsufficientLiquidity

    w3 = web3s[42161]
    chain = settings.chain(42161)
    adapter = AdapterRegistry.from_settings(settings).get(
        AdapterKey(chain_id=42161, protocol="metamorpho", market="gtUSDC")
    )
    vault = contract(w3, "ERC4626Vault", adapter.vault)
    admin, participant = w3.eth.accounts[0], stack.chains[42161].deployed.participant
    client = ExecutorClient(w3, 42161, chain.executor, signer)
    reader = MulticallReader(w3)
    mint(w3, adapter.asset.address, chain.executor, 1_000 * 10**6)
    client.execute(adapter.deposit_calls(1_000 * 10**6, chain.executor))
    idle = vault.functions.idleAssets().call()
    for fn in (vault.functions.setMetaMorphoErrors(True), vault.functions.lend(idle - 100 * 10**6, participant)):
        w3.eth.wait_for_transaction_receipt(fn.transact({"from": admin}))
    try:
        (position,) = read_positions(reader, [adapter], chain.executor)
        for action, match in [(Withdraw(101 * 10**6), "take 100000000 now"), (WithdrawAll(position), "redeem")]:
            with pytest.raises(InsufficientLiquidity, match=match):
                adapter.decode_quote(action, reader.read(adapter.quote_reads(action, chain.executor)).results)
        with pytest.raises(ExecutionReverted, match=r"NotEnoughLiquidity\(\): InsufficientLiquidity") as caught:
            client.execute(adapter.withdraw_calls(101 * 10**6, chain.executor))
        assert caught.value.error == "InsufficientLiquidity"
        client.execute(protected_calls(w3, adapter, Withdraw(100 * 10**6), chain.executor))
    finally:
        w3.eth.wait_for_transaction_receipt(vault.functions.setMetaMorphoErrors(False).transact({"from": admin}))


def test_a_deposit_into_an_already_inflated_vault_is_refused_before_sending(stack, settings, web3s):
    """Offset 0 and an attacker's donation: a deposit below the share price mints no share
    (refused by name), one above it loses the rest to rounding (its slippage says how much),
    and the guard never accepts zero shares."""
    from floor.errors import InvalidAmount
    from floor.protocols.erc4626 import Erc4626Adapter

    w3 = web3s[1]
    chain = settings.chain(1)
    usdc = chain.token("USDC")
    attacker = w3.eth.accounts[2]
    vault = Deployer(w3).deploy("ERC4626Vault", usdc.address, "inflated", "inflated", w3.eth.accounts[0])
    token = contract(w3, "TestERC20", usdc.address)
    donation = 1_000_000 * 10**6
    mint(w3, usdc.address, attacker, donation + 1)
    for fn in (
        token.functions.approve(vault.address, 1),
        vault.functions.deposit(1, attacker),
        token.functions.transfer(vault.address, donation),
    ):
        w3.eth.wait_for_transaction_receipt(fn.transact({"from": attacker}))
    adapter = Erc4626Adapter(
        key=AdapterKey(chain_id=1, protocol="metamorpho", market="inflated"),
        asset=Asset(usdc.symbol, usdc.address, usdc.decimals),
        vault=vault.address,
    )
    reader = MulticallReader(w3)

    def quote(amount):
        return reader.read(adapter.quote_reads(Deposit(amount), chain.executor)).results

    with pytest.raises(InvalidAmount, match="mints no share"):
        adapter.decode_quote(Deposit(500_000 * 10**6), quote(500_000 * 10**6))
    big = 1_500_000 * 10**6  # one share, worth (2,500,000 + 1) / 2 of the deposit's units
    assert adapter.slippage(Deposit(big), quote(big)).bps > 1_600
    calls = adapter.protected_calls(
        Deposit(big), chain.executor, adapter.decode_quote(Deposit(big), quote(big)), 10_000
    )
    assert decode(["address", "int256"], bytes.fromhex(calls[-1].data[10:]))[1] == 1
