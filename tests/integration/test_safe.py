"""The executor owned by a real Safe 1.4.1 (the npm build, at its canonical addresses) on a
chain of this module's own standing for Sepolia: 2 of 3 owners sign the executor's rules as one
batched Safe transaction (a delegatecall to MultiSendCallOnly); fewer signatures, a stranger's
signature, reused signatures or a failing call are refused, change nothing and leave the
Safe's nonce where it was."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError

from floor.calls import call, selector
from floor.chain.executor import decode_revert
from floor.chain.rpc import connect
from floor.chain.signer import LocalKeySigner
from floor.deploy.safe import (
    SafeContracts,
    SafeTx,
    SafeTxRefused,
    batch,
    canonical_contracts,
    create_safe,
    deploy_safe_contracts,
    domain_separator,
    exec_transaction,
    safe_artifact,
    safe_nonce,
    safe_owners,
    safe_threshold,
    safe_tx_hash,
    sign_safe_tx,
)
from floor.devnet.context import Deployer
from floor.devnet.deploy import local_setup
from floor.devnet.stack import anvil_account_key
from floor.models import Call
from floor.permissions import (
    APPROVE,
    DESTINATIONS,
    PermissionSet,
    approval,
    owner_calls,
    spenders_of,
    token_asset,
    transfers,
    word_of,
)
from tests.integration.helpers import own_anvil, reverting

SEPOLIA = 11155111
OWNER_ACCOUNTS = (5, 6, 7)  # anvil's accounts 5-7 sign for the Safe; account 8 is no owner
STRANGER_ACCOUNT = 8


@dataclass
class Env:
    w3: Web3
    contracts: SafeContracts
    safe: str
    owner_keys: list[str]
    executor: Any  # the FloorExecutor contract, owned by the Safe
    token: str
    spender: str
    treasury: str
    calls: list[Call]  # the owner's calls that configure the executor's rules

    def safe_contract(self) -> Any:
        return self.w3.eth.contract(address=self.safe, abi=safe_artifact("Safe").abi)

    def rules_applied(self) -> bool:
        functions = self.executor.functions
        return (
            functions.isAllowed(self.token, selector(APPROVE)).call()
            and functions.isListed(DESTINATIONS, word_of(self.treasury)).call()
            and functions.lossBound().call()[0] == 150
        )

    def signed(self, tx: SafeTx, *keys: str) -> list:
        digest = safe_tx_hash(SEPOLIA, self.safe, tx)
        return [sign_safe_tx(digest, k) for k in keys]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    with own_anvil(tmp_path_factory, SEPOLIA, "safe") as url:
        w3 = connect([url])
        d = Deployer(w3)
        contracts = deploy_safe_contracts(w3, d.admin)
        keys = [anvil_account_key(i) for i in OWNER_ACCOUNTS]
        safe = create_safe(w3, contracts, [Account.from_key(k).address for k in keys], 2, salt_nonce=0)
        executor = d.deploy("FloorExecutor", safe, d.participant, d.guardian)
        token = d.deploy("TestERC20", "USD Coin", "USDC", 6).address
        spender = w3.eth.accounts[9]
        permissions = (
            approval(token, spender)
            + transfers([token], [d.treasury])
            + PermissionSet(assets=(token_asset(token, "USDC", 6),))
        )
        calls = owner_calls(executor.address, local_setup(w3, permissions))
        yield Env(w3, contracts, safe, keys, executor, token, spender, d.treasury, calls)


@pytest.fixture(autouse=True)
def _each_test_reverted(env):
    yield from reverting(env.w3)


def test_the_safe_contracts_deploy_once_at_their_canonical_addresses(env):
    w3, admin = env.w3, env.w3.eth.accounts[0]
    assert env.contracts == canonical_contracts()
    sent = w3.eth.get_transaction_count(admin)
    assert deploy_safe_contracts(w3, admin) == env.contracts  # all there: nothing sent
    owners = [Account.from_key(k).address for k in env.owner_keys]
    assert create_safe(w3, env.contracts, owners, 2, salt_nonce=0) == env.safe
    assert w3.eth.get_transaction_count(admin) == sent
    assert sorted(safe_owners(w3, env.safe)) == sorted(owners)
    assert safe_threshold(w3, env.safe) == 2
    assert env.executor.functions.owner().call() == env.safe


def test_the_safes_transaction_hash_is_ours(env):
    safe = env.safe_contract()
    assert bytes(safe.functions.domainSeparator().call()) == domain_separator(SEPOLIA, env.safe)
    txs = [
        batch(env.calls, nonce=0),
        batch(env.calls[:1], nonce=5),
        SafeTx(env.token, 7, b"\x01\x02", 0, 3, safe_tx_gas=1, base_gas=2, gas_price=3, gas_token=env.token),
    ]
    for tx in txs:
        assert bytes(safe.functions.getTransactionHash(*tx.args(), tx.nonce).call()) == safe_tx_hash(
            SEPOLIA, env.safe, tx
        )


def test_two_owners_apply_the_rules_in_one_transaction(env):
    w3 = env.w3
    assert len(env.calls) > 1 and not env.rules_applied()
    with pytest.raises(ContractLogicError) as caught:  # the deployer is no longer the owner
        env.executor.functions.setLossBound((150, 1, 1, 1)).call({"from": w3.eth.accounts[0]})
    assert decode_revert(caught.value.data).startswith("NotOwner")

    tx = batch(env.calls, nonce=safe_nonce(w3, env.safe))
    assert (tx.to, tx.operation) == (env.contracts.multi_send_call_only, 1)
    first, _, third = env.owner_keys
    # sent by one of the owners with a key of its own (a signed raw transaction)
    receipt = exec_transaction(w3, env.safe, tx, env.signed(tx, third, first), LocalKeySigner.from_private_key(first))
    assert receipt["status"] == 1
    assert env.rules_applied()
    assert env.executor.functions.isListed(spenders_of(env.token), word_of(env.spender)).call()
    assert safe_nonce(w3, env.safe) == 1


def refused(env: Env, tx: SafeTx, signatures, code: str) -> None:
    """The Safe refuses: nothing sent, nothing changed, its nonce where it was."""
    w3, sender = env.w3, env.w3.eth.accounts[0]
    nonce, sent = safe_nonce(w3, env.safe), w3.eth.get_transaction_count(sender)
    with pytest.raises(SafeTxRefused, match=code) as caught:
        exec_transaction(w3, env.safe, tx, signatures, sender)
    assert caught.value.code == code
    assert w3.eth.get_transaction_count(sender) == sent
    assert safe_nonce(w3, env.safe) == nonce
    assert not env.rules_applied()


def test_one_signature_is_refused(env):
    tx = batch(env.calls, nonce=0)
    refused(env, tx, env.signed(tx, env.owner_keys[1]), "GS020")


def test_a_signature_by_a_non_owner_is_refused(env):
    tx = batch(env.calls, nonce=0)
    refused(env, tx, env.signed(tx, env.owner_keys[0], anvil_account_key(STRANGER_ACCOUNT)), "GS026")


def test_signatures_count_for_one_nonce_only(env):
    tx = batch(env.calls, nonce=0)
    signatures = env.signed(tx, *env.owner_keys[:2])
    exec_transaction(env.w3, env.safe, tx, signatures, env.w3.eth.accounts[0])
    # Undo part of the rules so a replay would show, then replay the same signatures.
    unlist = call(
        env.executor.address, "setListed(bytes32,bytes32[],bool)", DESTINATIONS, [word_of(env.treasury)], False
    )
    undo = batch([unlist], nonce=1)
    exec_transaction(env.w3, env.safe, undo, env.signed(undo, *env.owner_keys[1:]), env.w3.eth.accounts[0])
    refused(env, tx, signatures, "GS026")  # the hash at nonce 2 is another: the signers recover as strangers
    assert safe_nonce(env.w3, env.safe) == 2


def test_a_batch_with_a_failing_call_changes_nothing(env):
    failing = [*env.calls, call(env.executor.address, "acceptOwnership()")]  # no ownership is pending
    tx = batch(failing, nonce=0)
    refused(env, tx, env.signed(tx, *env.owner_keys), "GS013")
