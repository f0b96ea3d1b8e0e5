"""Balance guards against the inflation attack on a nearly empty ERC-4626 vault (as
OpenZeppelin documents it): an attacker holding the only share donates assets just before
the treasury's deposit, so the deposit mints nothing. A guarded deposit reverts whole."""

from __future__ import annotations

import pytest

from floor.adapters.base import Asset, Deposit
from floor.chain.errors import ExecutionReverted, TransactionFailed
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.devnet.context import Deployer
from floor.devnet.deploy import configure_executor
from floor.models import AdapterKey
from floor.protocols.erc4626 import Erc4626Adapter
from tests.integration.helpers import balance, contract, mint

AMOUNT = 100_000 * 10**6  # the treasury's deposit
DONATION = 10 * AMOUNT


@pytest.fixture
def fresh_vault(settings, web3s, signer):
    """An empty USDC vault (decimals offset 0), allowed on the executor, and 1 share held by
    the attacker."""
    w3, chain = web3s[1], settings.chain(1)
    d = Deployer(w3)
    usdc = chain.token("USDC")
    vault = d.deploy("ERC4626Vault", usdc.address, "fresh", "fresh", d.admin)
    adapter = Erc4626Adapter(
        key=AdapterKey(chain_id=1, protocol="metamorpho", market="fresh"),
        asset=Asset(usdc.symbol, usdc.address, usdc.decimals),
        vault=vault.address,
    )
    configure_executor(w3, chain.executor, adapter.permissions())
    attacker = d.participant
    token = contract(w3, "TestERC20", usdc.address)
    mint(w3, usdc.address, attacker, DONATION + 1)
    d.send(token.functions.approve(vault.address, 1), attacker)
    d.send(vault.functions.deposit(1, attacker), attacker)
    mint(w3, usdc.address, chain.executor, AMOUNT)
    client = ExecutorClient(w3, 1, chain.executor, signer)

    def donate():
        d.send(token.functions.transfer(vault.address, DONATION), attacker)

    return w3, chain, adapter, vault, client, donate


def guarded_deposit(w3, chain, adapter):
    """Quote (previewDeposit) and build the guarded calls, as the engine's activity does."""
    reads = adapter.quote_reads(Deposit(AMOUNT), chain.executor)
    quote = adapter.decode_quote(Deposit(AMOUNT), MulticallReader(w3).read(reads).results)
    return adapter.protected_calls(Deposit(AMOUNT), chain.executor, quote, slippage_bps=50)


def test_without_a_guard_the_executors_loss_bound_refuses_the_zero_share_deposit(fresh_vault):
    """The threat is real on this vault (the deposit would mint no share); the executor values
    the shares against the asset and refuses the batch, guards or not."""
    w3, chain, adapter, vault, client, donate = fresh_vault
    donate()
    with pytest.raises(ExecutionReverted, match=r"LossTooHigh"):
        client.execute(adapter.deposit_calls(AMOUNT, chain.executor))
    assert vault.functions.balanceOf(chain.executor).call() == 0
    assert balance(w3, adapter.asset.address, chain.executor) == AMOUNT


def test_a_donation_between_quote_and_deposit_is_refused_before_sending(fresh_vault, signer):
    w3, chain, adapter, vault, client, donate = fresh_vault
    calls = guarded_deposit(w3, chain, adapter)
    donate()
    nonce = w3.eth.get_transaction_count(signer.address)
    with pytest.raises(ExecutionReverted, match=rf"BalanceGuard\(call 4: balance of {vault.address} moved by 0, "):
        client.execute(calls)
    assert w3.eth.get_transaction_count(signer.address) == nonce
    assert balance(w3, adapter.asset.address, chain.executor) == AMOUNT


def test_a_donation_after_signing_reverts_the_mined_batch_and_nothing_is_lost(fresh_vault):
    """The chain enforces the bound, not the engine's estimate: mined after the donation, the
    transaction fails whole."""
    w3, chain, adapter, vault, client, donate = fresh_vault
    signed = client.sign(guarded_deposit(w3, chain, adapter))  # the estimate passes here
    donate()
    with pytest.raises(TransactionFailed, match="reverted in block"):
        client.wait(client.submit(signed), calls=5)
    assert balance(w3, adapter.asset.address, chain.executor) == AMOUNT
    assert vault.functions.balanceOf(chain.executor).call() == 0


def test_with_no_donation_the_guarded_deposit_mints_the_quoted_shares(fresh_vault):
    w3, chain, adapter, vault, client, _ = fresh_vault
    client.execute(guarded_deposit(w3, chain, adapter))
    assert vault.functions.balanceOf(chain.executor).call() == AMOUNT
