"""The transaction queue's pure decisions: validation, order, packing, nonces."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from floor.batching import MAX_CALL_DATA
from floor.calls import call
from floor.models import Priority
from floor.txqueue import (
    MAX_OUTCOMES,
    Fees,
    Pending,
    PrivateStats,
    QueueInput,
    QueueState,
    SentTx,
    TxIntent,
    TxOutcome,
    intent_problem,
    known,
    next_to_send,
    pair_key,
    remember,
    resync,
    take_nonce,
)

TOKEN, POOL, EXECUTOR = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
NOW = datetime(2026, 11, 25, tzinfo=UTC)
APPROVE = call(TOKEN, "approve(address,uint256)", POOL, 0)
QUEUE = QueueInput(chain_id=1, signer="0x" + "44" * 20, executor=EXECUTOR, allowed=[pair_key(TOKEN, APPROVE.data[:10])])


def intent(name: str, priority=Priority.NORMAL, calls: int = 1, **fields) -> TxIntent:
    return TxIntent(id=name, chain_id=1, groups=[[APPROVE] * calls], priority=priority, **fields)


def pending(*intents: TxIntent) -> QueueState:
    return QueueState(pending=[Pending(intent=i, seq=n) for n, i in enumerate(intents)])


def test_intents_are_refused_by_name_before_they_enter_history():
    assert intent_problem(intent("ok"), QUEUE, NOW) is None
    assert "is for chain 10" in intent_problem(intent("x").model_copy(update={"chain_id": 10}), QUEUE, NOW)
    assert "65 calls; the executor takes at most 64" in intent_problem(intent("x", calls=65), QUEUE, NOW)
    long = APPROVE.model_copy(update={"data": APPROVE.data + "00" * MAX_CALL_DATA})
    assert f"bytes of calldata; the executor takes at most {MAX_CALL_DATA}" in intent_problem(
        TxIntent(id="x", chain_id=1, groups=[[long]]), QUEUE, NOW
    )
    transfer = call(TOKEN, "transfer(address,uint256)", POOL, 1)
    unlisted = TxIntent(id="x", chain_id=1, groups=[[APPROVE], [transfer]])
    assert "call 1 (0xa9059cbb on 0x1111" in intent_problem(unlisted, QUEUE, NOW)
    guard = call(EXECUTOR, "guardStart(address)", TOKEN)  # the executor's own guards need no rule
    assert intent_problem(TxIntent(id="g", chain_id=1, groups=[[guard, APPROVE]]), QUEUE, NOW) is None
    assert "has passed" in intent_problem(intent("x", deadline=NOW - timedelta(seconds=1)), QUEUE, NOW)
    assert "no time zone" in intent_problem(intent("x", deadline=datetime(2030, 1, 1)), QUEUE, NOW)
    assert "empty group" in intent_problem(TxIntent(id="x", chain_id=1, groups=[[APPROVE], []]), QUEUE, NOW)


def test_priority_first_then_arrival():
    state = pending(intent("low", Priority.LOW), intent("n1"), intent("crit", Priority.CRITICAL), intent("n2"))
    assert [[i.id for i in plan] for plan in next_to_send(state, NOW)] == [["crit"], ["n1"], ["n2"], ["low"]]


def test_only_mergeable_intents_of_one_priority_share_a_transaction_while_they_fit():
    state = pending(
        intent("a", mergeable=True, calls=30),
        intent("b", mergeable=True, calls=30),
        intent("c", mergeable=True, calls=30),  # 90 calls would not fit: a new transaction
        intent("d", calls=1),  # not mergeable: alone
        intent("e", Priority.HIGH, mergeable=True),
    )
    assert [[i.id for i in plan] for plan in next_to_send(state, NOW)] == [["e"], ["a", "b"], ["c"], ["d"]]


def test_held_intents_wait_until_their_time():
    state = pending(intent("held"), intent("free"))
    state.pending[0].hold_until = NOW + timedelta(seconds=30)
    assert [[i.id for i in p] for p in next_to_send(state, NOW)] == [["free"]]
    assert [[i.id for i in p] for p in next_to_send(state, NOW + timedelta(seconds=30))] == [["held"], ["free"]]


def test_nonces_refused_before_broadcast_are_reused_first():
    state = QueueState(next_nonce=10, free_nonces=[8, 7])
    assert [take_nonce(state) for _ in range(3)] == [7, 8, 10] and state.next_nonce == 11


def _sent(nonce: int) -> SentTx:
    return SentTx(nonce=nonce, intents=[], to=EXECUTOR, data="0x", calls=0, gas=1, fees=Fees(2, 1))


def test_resync_starts_at_the_chains_pending_nonce():
    state = QueueState()
    assert resync(state, latest=4, pending=5) == "nonce synced at 5" and state.next_nonce == 5


def test_resync_up_when_another_sender_used_the_key():
    state = QueueState(next_nonce=5)
    assert "re-synced up from 5 to 9" in resync(state, latest=9, pending=9)
    assert state.next_nonce == 9 and state.free_nonces == []


def test_resync_refills_a_gap_no_transaction_of_ours_will_fill():
    """Nonces 5..8 assigned; 6 and 8 are ours in flight (the watcher rebroadcasts them if
    dropped), 5 and 7 have nothing: they are refilled first. Never below the mined nonce."""
    state = QueueState(next_nonce=9, inflight=[_sent(6), _sent(8)], free_nonces=[3])
    assert "nonces [5, 7] left unused" in resync(state, latest=5, pending=5)
    assert state.free_nonces == [5, 7] and state.next_nonce == 9
    assert resync(QueueState(next_nonce=9, inflight=[_sent(n) for n in range(5, 9)]), 5, 9) is None


def test_outcomes_are_remembered_boundedly_and_known_ids_found():
    state = QueueState()
    for n in range(MAX_OUTCOMES + 2):
        remember(state, TxOutcome(intent_id=f"i{n}", ok=True))
    assert len(state.outcomes) == MAX_OUTCOMES and "i0" not in state.outcomes and "i1" not in state.outcomes
    state = pending(intent("waiting"))
    state.preparing = ["preparing"]
    state.inflight = [_sent(1).model_copy(update={"intents": [intent("flying")]})]
    assert all(known(state, i) for i in ("waiting", "preparing", "flying")) and not known(state, "new")


class _Node:
    """A provider answering eth_estimateGas with a canned JSON-RPC response."""

    def __init__(self, response: dict):
        self.response = response

    def make_request(self, method, params):
        return self.response


def _sender(provider, probe_gas: bool = False):
    from types import SimpleNamespace

    from floor.chain.txsender import TxSender

    sender = TxSender.__new__(TxSender)  # only what _simulate reads
    sender.w3 = SimpleNamespace(provider=provider)
    sender.signer = SimpleNamespace(address="0x" + "44" * 20)
    sender.executor = EXECUTOR
    sender.probe_gas = probe_gas
    return sender


def _simulated(response: dict):
    from floor.chain.txsender import _Unit

    return _sender(_Node(response))._simulate([_Unit("i", None, [APPROVE])])


class _ProbedNode:
    """eth_createAccessList and eth_call answered as given; eth_estimateGas 0x5208 (21,000)."""

    def __init__(self, listed: dict, called: dict):
        self.answers = {"eth_createAccessList": listed, "eth_call": called, "eth_estimateGas": {"result": "0x5208"}}
        self.asked: list[tuple[str, list]] = []

    def make_request(self, method, params):
        self.asked.append((method, params))
        return self.answers[method]


def _probed(listed: dict, called: dict | None = None):
    from floor.chain.txsender import _Unit

    node = _ProbedNode(listed, called or {"result": "0x"})
    sender = _sender(node, probe_gas=True)
    gas, reason = sender._simulate([_Unit("i", None, [APPROVE])])
    return gas, reason, [m for m, _ in node.asked], node.asked, sender.probe_gas


def test_gas_from_the_calls_use_and_one_call_that_must_succeed_at_the_limit():
    from floor.chain.txsender import GAS_PROBE_ADD

    used = 100_000
    gas, reason, methods, asked, _ = _probed({"result": {"accessList": [], "gasUsed": hex(used)}})
    limit = used * 5 // 4 + GAS_PROBE_ADD  # a quarter above what the calls use
    assert (gas, reason, methods) == (limit, None, ["eth_createAccessList", "eth_call"])
    assert asked[1][1][0]["gas"] == hex(limit)  # checked at exactly the limit it answers
    # The limit did not suffice (a refund or the 63/64 rule needed more): the search decides.
    gas, _, methods, _, _ = _probed(
        {"result": {"gasUsed": hex(used)}}, {"error": {"code": -32000, "message": "out of gas"}}
    )
    assert (gas, methods) == (21_000, ["eth_createAccessList", "eth_call", "eth_estimateGas"])


def test_a_revert_or_a_node_without_the_method_leaves_the_gas_to_the_search():
    # A revert in the access list's run: eth_estimateGas names it.
    gas, _, methods, _, still = _probed({"result": {"gasUsed": "0x1", "error": "execution reverted"}})
    assert (gas, methods, still) == (21_000, ["eth_createAccessList", "eth_estimateGas"], True)
    # No such method: asked once, then never again.
    gas, _, methods, _, still = _probed({"error": {"code": -32601, "message": "the method does not exist"}})
    assert (gas, methods, still) == (21_000, ["eth_createAccessList", "eth_estimateGas"], False)


def test_simulation_reads_gas_reverts_and_faults_apart():
    import pytest

    from floor.chain.errors import RpcUnavailable

    assert _simulated({"result": "0x5208"}) == (21_000, None)
    error_string = "0x08c379a0" + "00" * 31 + "20" + "00" * 31 + "04" + "6e6f7065" + "00" * 28  # Error("nope")
    assert _simulated({"error": {"code": 3, "message": "execution reverted", "data": error_string}}) == (0, "nope")
    nested = {"error": {"code": -32000, "message": "x", "data": {"data": error_string}}}
    assert _simulated(nested) == (0, "nope")
    bare = _simulated({"error": {"code": -32000, "message": "execution reverted"}})
    assert bare == (0, "reverted without data (execution reverted)")  # the chain's verdict, not a fault
    with pytest.raises(RpcUnavailable, match="header not found"):
        _simulated({"error": {"code": -32000, "message": "header not found"}})  # a lagging node: retried


def test_a_private_intent_needs_the_chains_relay_and_moves_are_base_units():
    assert "has no private relay configured" in intent_problem(intent("p", private=True), QUEUE, NOW)
    with_relay = QUEUE.model_copy(update={"private_relay": True})
    assert intent_problem(intent("p", private=True), with_relay, NOW) is None
    for bad in ({"USDC": -1}, {"USDC": 1.5}):
        with pytest.raises(ValidationError):
            intent("m", moves=bad)


def test_private_stats_count_inclusions_and_keep_the_latest_hundred():
    stats = PrivateStats()
    assert stats.inclusion_rate is None
    for blocks in range(150):
        stats.note_included(blocks)
    stats.fallbacks = 50
    assert stats.included == 150 and stats.blocks_to_inclusion == list(range(50, 150))
    assert stats.inclusion_rate == 0.75


def test_on_arbitrum_the_gas_is_the_searchs_alone():
    """Arbitrum's gas counts its L1 data, which eth_estimateGas prices and a plain run need not."""
    from types import SimpleNamespace

    from eth_account import Account

    from floor.chain.signer import LocalKeySigner
    from floor.chain.txsender import TxSender
    from floor.config import TxConfig

    signer = LocalKeySigner(Account.create())
    for model, probes in (("arbitrum", False), ("ethereum", True), ("op_stack", True)):
        sender = TxSender(SimpleNamespace(), 1, EXECUTOR, signer, TxConfig(fee_model=model))  # type: ignore[arg-type]
        assert sender.probe_gas is probes


# How each node client words a refused eth_sendRawTransaction (client, message, meaning).
REFUSALS = [
    ("geth", "already known", "known"),
    ("anvil", "transaction already imported", "known"),
    ("nethermind", "AlreadyKnown", "known"),
    ("besu", "Known transaction", "known"),
    ("openethereum", "Transaction with the same hash was already imported.", "known"),
    ("geth", "nonce too low: next nonce 5, tx nonce 3", "nonce_too_low"),
    ("nethermind", "OldNonce, Current nonce: 5, nonce of rejected tx: 3", "nonce_too_low"),
    ("besu", "Nonce too low", "nonce_too_low"),
    ("openethereum", "Transaction nonce is too low. Try incrementing the nonce.", "nonce_too_low"),
    ("geth", "insufficient funds for gas * price + value: balance 0, tx cost 21000", "insufficient_funds"),
    ("nethermind", "InsufficientFunds, Account balance: 0, cumulative cost: 2100000", "insufficient_funds"),
    ("besu", "Upfront cost exceeds account balance", "insufficient_funds"),
    ("geth", "replacement transaction underpriced", None),
    ("geth", "unknown transaction type", None),
    ("nethermind", "FeeTooLowToCompete", None),
]


@pytest.mark.parametrize(("client", "message", "meaning"), REFUSALS)
def test_every_clients_wording_of_a_refused_send_means_the_same(client, message, meaning):
    from floor.chain.executor import send_refusal

    assert send_refusal(message) == meaning, client


def test_a_broadcast_refused_for_funds_in_nethermind_words_returns_the_nonce():
    """Nethermind says `InsufficientFunds`: the queue must see the transaction never reached a
    pool (its nonce goes back, its intents fail), not a refusal the watcher waits out."""
    from floor.txqueue import SignedTx

    refused = {"error": {"code": -32010, "message": "InsufficientFunds, Account balance: 0, cumulative cost: 1"}}
    result = _sender(_Node(refused)).broadcast(SignedTx(nonce=7, hash="0x" + "ab" * 32, raw="0x02"))
    assert (result.ok, result.error) == (False, "InsufficientFundsForGas")
    known = _sender(_Node({"error": {"code": -32010, "message": "AlreadyKnown"}}))
    assert known.broadcast(SignedTx(nonce=7, hash="0x" + "ab" * 32, raw="0x02")).ok


def _told(statuses, notify, chain_nonce_seen=None, taken=True):
    """What TxActivities._tell appends to each broadcast result, with a teller that answers
    `taken` for every signal; (the results' told outcomes by nonce, what was asked)."""
    from activities.txqueue import TxActivities
    from floor.txqueue import BroadcastInput, BroadcastResult

    asked = []

    def tell(told):
        asked.extend(told)
        return [taken] * len(told)

    acts = TxActivities.__new__(TxActivities)
    acts.tell = tell
    results = [BroadcastResult(nonce=s.nonce, hash="0x", ok=True, status=s) for s in statuses]
    acts._tell(BroadcastInput(chain_id=1, txs=[], notify=notify, chain_nonce_seen=chain_nonce_seen), results)
    return {r.nonce: r.told for r in results}, asked


def test_the_broadcast_tells_confirmed_outcomes_as_the_queue_settles_them():
    from floor.models import TxRecord
    from floor.txqueue import IntentFailure, Notice, TxStatus, mined_outcome

    def record(nonce, status=1):
        return TxRecord(
            chain_id=1,
            tx_hash=f"0x{nonce:064x}",
            nonce=nonce,
            block_number=10,
            gas_used=1,
            effective_gas_price=1,
            status=status,
            calls=1,
        )

    left_out = IntentFailure(intent_id="a", group=1, reason="intent a group 1: reverted")
    statuses = [
        TxStatus(nonce=5, state="confirmed", record=record(5), chain_nonce=7),
        TxStatus(nonce=6, state="confirmed", record=record(6, status=0), reason="Boom()", chain_nonce=7),
        TxStatus(nonce=7, state="pending", chain_nonce=7),
    ]
    notify = [
        Notice(nonce=5, intent_id="a", reply_to="op", dropped=[left_out]),
        Notice(nonce=6, intent_id="b", reply_to="op"),
        Notice(nonce=7, intent_id="c", reply_to="op"),
    ]
    told, asked = _told(statuses, notify)
    assert [o.intent_id for o in told[5] + told[6]] == ["a", "b"] and told[7] == []
    assert told[5][0].ok and told[5][0].dropped_groups == [1] and "left out intent a group 1" in told[5][0].message
    assert told[6][0].error == "TransactionFailed" and told[6][0].message == "Boom()"
    assert told[5][0] == mined_outcome("a", statuses[0], [left_out], "public")
    assert [w for w, _ in asked] == ["op", "op"]
    # A signal Temporal did not take is not told: the queue signals it.
    assert _told(statuses, notify, taken=False)[0] == {5: [], 6: [], 7: []}
    # The signer's mined nonce went back (a reorg, a reset chain): nothing is told.
    told, asked = _told(statuses, notify, chain_nonce_seen=9)
    assert asked == [] and all(t == [] for t in told.values())
