"""The executor contract: only the operator, only allowlisted calls, all or nothing."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from floor.calls import call, selector
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient, decode_revert, encode_execute
from floor.chain.signer import LocalKeySigner
from floor.devnet.deploy import Deployer
from floor.devnet.stack import fund_signer, new_operator_key
from tests.integration.helpers import contract


@pytest.fixture
def chain1(settings, web3s, signer):
    chain = settings.chain(1)
    w3 = web3s[1]
    return chain, w3, ExecutorClient(w3, 1, chain.executor, signer), contract(w3, "FloorExecutor", chain.executor)


@pytest.fixture
def reverter(web3s):
    return Deployer(web3s[1]).deploy("Reverter")


def test_unlisted_target_is_refused_without_spending_a_nonce(chain1, reverter, signer):
    chain, w3, client, _ = chain1
    nonce = w3.eth.get_transaction_count(signer.address)
    with pytest.raises(ExecutionReverted, match=r"CallNotAllowed\(call 0: target .*selector 0x"):
        client.execute([call(reverter.address, "ok()")])
    assert w3.eth.get_transaction_count(signer.address) == nonce


def test_unlisted_selector_on_a_listed_target_is_refused(chain1):
    chain, w3, client, _ = chain1
    usdc = chain.token("USDC").address  # approve is listed on USDC, transfer is not
    with pytest.raises(ExecutionReverted, match="CallNotAllowed"):
        client.execute([call(usdc, "transfer(address,uint256)", chain.executor, 1)])


def test_wrong_caller_is_refused(chain1, web3s):
    chain, w3, _, _ = chain1
    stranger = LocalKeySigner.from_private_key(new_operator_key())
    fund_signer(w3, stranger.address)
    with pytest.raises(ExecutionReverted, match=f"NotOperator\\({stranger.address}\\)"):
        ExecutorClient(w3, 1, chain.executor, stranger).execute(
            [call(chain.token("USDC").address, "approve(address,uint256)", chain.executor, 0)]
        )


def test_one_failing_call_reverts_the_whole_batch(chain1, reverter, signer):
    chain, w3, client, executor = chain1
    usdc = chain.token("USDC").address
    spender = chain.markets[0].pool
    Deployer(w3).send(
        executor.functions.setAllowedBatch(
            [reverter.address, reverter.address], [selector("ok()"), selector("fail()")], True
        )
    )
    batch = [
        call(usdc, "approve(address,uint256)", spender, 123),
        call(reverter.address, "ok()"),
        call(reverter.address, "fail()"),
    ]

    with pytest.raises(ExecutionReverted, match=r"CallFailed\(call 2\): Reverter: fail"):
        client.execute(batch)

    # Mined anyway (gas set by hand, skipping the estimate): status 0 and no effect at all.
    tx = client.signer.sign_transaction(
        {**client.build(batch[:2]), "data": "0x" + encode_execute(batch).hex(), "gas": 300_000}
    )
    w3.eth.send_raw_transaction(tx.raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx.hash)
    assert receipt["status"] == 0
    assert contract(w3, "TestERC20", usdc).functions.allowance(chain.executor, spender).call() == 0
    assert reverter.functions.okCount().call() == 0


def test_allowed_batch_executes_and_emits_one_event_per_call(chain1, reverter, signer):
    chain, w3, client, executor = chain1
    Deployer(w3).send(executor.functions.setAllowed(reverter.address, selector("ok()"), True))
    record = client.execute([call(reverter.address, "ok()"), call(reverter.address, "ok()")])
    receipt = w3.eth.get_transaction_receipt(record.tx_hash)
    events = executor.events.CallExecuted().process_receipt(receipt, errors=DISCARD)  # skip Reverter's own logs
    assert [e.args.index for e in events] == [0, 1] and record.status == 1 and record.calls == 2


def test_reentrancy_is_refused(web3s):
    w3 = web3s[1]
    d = Deployer(w3)
    executor = d.deploy("FloorExecutor", d.admin, d.admin)
    probe = d.deploy("ReentrancyProbe", executor.address)
    d.send(executor.functions.setOperator(probe.address))
    d.send(executor.functions.setAllowed(probe.address, selector("reenter()"), True))
    with pytest.raises(ContractLogicError) as caught:
        probe.functions.attack().call({"from": d.admin})
    assert "Reentrancy()" in decode_revert(caught.value.data)


def test_paused_executor_refuses_and_owner_resumes(chain1, signer):
    chain, w3, client, executor = chain1
    d = Deployer(w3)
    usdc = chain.token("USDC").address
    approve = [call(usdc, "approve(address,uint256)", chain.executor, 0)]
    d.send(executor.functions.pause())
    with pytest.raises(ExecutionReverted, match="ExecutorPaused"):
        client.execute(approve)
    with pytest.raises(ContractLogicError):  # only the owner may resume
        executor.functions.unpause().call({"from": signer.address})
    d.send(executor.functions.unpause())
    assert client.execute(approve).status == 1


def test_owner_manages_the_allowlist_and_operator(chain1, reverter, signer):
    chain, w3, _, executor = chain1
    with pytest.raises(ContractLogicError):
        executor.functions.setAllowed(reverter.address, selector("ok()"), True).call({"from": signer.address})
    with pytest.raises(ContractLogicError):
        executor.functions.setOperator(signer.address).call({"from": signer.address})
    assert executor.functions.operator().call() == signer.address


def test_the_contract_bounds_match_the_client_check(chain1):
    """A batch at the client's limits passes the contract; one call over the calldata bound
    reverts on chain, which is why the client refuses it first."""
    from floor.chain.executor import MAX_CALL_DATA, MAX_CALLS

    chain, w3, client, executor = chain1
    usdc = chain.token("USDC").address
    approve = call(usdc, "approve(address,uint256)", chain.executor, 0)
    assert client.execute([approve] * MAX_CALLS).calls == MAX_CALLS
    padded = approve.model_copy(
        update={"data": approve.data + "00" * (MAX_CALL_DATA + 1 - (len(approve.data) - 2) // 2)}
    )
    with pytest.raises(ContractLogicError):
        w3.eth.call({"from": client.signer.address, "to": chain.executor, "data": encode_execute([padded])})
