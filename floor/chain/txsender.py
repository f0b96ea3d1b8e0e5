"""The transaction queue's chain side: simulate (and find what would revert), sign, broadcast,
and watch transactions until they are mined at depth.

Each step is safe to repeat, because a killed worker repeats it: signing the same nonce, gas
and fees gives the same bytes (RFC 6979 signatures), broadcasting known bytes is a no-op,
and watching only reads (rebroadcasting our own bytes when the node lost them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound
from web3.types import RPCEndpoint, RPCResponse, TxParams

from floor.chain.errors import RpcUnavailable
from floor.chain.executor import (
    GAS_BUFFER_BPS,
    GAS_HEADROOM,
    decode_revert,
    encode_execute,
    revert_reason,
    send_refusal,
)
from floor.chain.fees import blocks_until, over_cap, suggest_fees
from floor.chain.identity import ChainRewritten, final_block, mark_at, mismatch
from floor.chain.l2fees import l1_data_fee, unsigned_eip1559_tx
from floor.chain.rpc import batch_request, block_transactions
from floor.chain.signer import Signer
from floor.config import TxConfig
from floor.logging import get_logger
from floor.models import Call, Priority, TxRecord
from floor.txqueue import (
    BroadcastResult,
    ChainMark,
    Fees,
    Followed,
    FollowResult,
    FollowStatus,
    IntentFailure,
    PlannedTx,
    PreparedTx,
    SignedTx,
    TxStatus,
    UnsignedTx,
    Watched,
)

# Reads (simulations, receipts) of many transactions go out in parallel; broadcasts do not,
# so nodes always see a signer's nonces in order.
READ_THREADS = 8
# The first look polls what it did not find mined again, every LOOK_EVERY_S for LOOK_AGAIN_S
# (a block being sealed: a chain that mines on arrival has a receipt 4 to 10 ms after the send).
LOOK_AGAIN_S = 0.02
LOOK_EVERY_S = 0.003
_L1_FEE_NONCE = 0xFFFF  # priced in place of the nonce a prepared transaction does not have yet
SHORTER_FORK_BLOCKS = 2  # how much shorter a reorg's winning fork may be than the chain it replaced
# A batch's gas in two executions instead of eth_estimateGas's search (about 15 on a large
# batch): the gas its calls use (eth_createAccessList), then one eth_call at a limit this far
# above it, which must succeed. The limit that succeeded is at least what the search would have
# found, so the buffer on top keeps at least the margin it kept over the search's answer. The
# quarter covers refunds (at most a fifth of what is spent) and the 63/64 each call level keeps.
GAS_PROBE_BPS = 12_500
GAS_PROBE_ADD = 20_000


@dataclass(frozen=True)
class _Unit:
    """What is kept or dropped whole: an atomic intent, or one group of a best-effort one."""

    intent_id: str
    group: int | None
    calls: list[Call]


class TxSender:
    def __init__(self, w3: Web3, chain_id: int, executor: str, signer: Signer, config: TxConfig):
        self.w3 = w3
        self.chain_id = chain_id
        self.executor = to_checksum_address(executor)
        self.signer = signer
        self.config = config
        self.log = get_logger(chain_id=chain_id, signer=signer.address)
        self._reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix=f"txsender-{chain_id}")
        # Arbitrum's gas counts the L1 data in gas units, which its eth_estimateGas prices and
        # a plain execution need not: there the search alone decides. Off too once the node
        # says it has no eth_createAccessList.
        self.probe_gas = config.fee_model != "arbitrum"

    # -- nonce ------------------------------------------------------------------------
    def nonce_state(self) -> tuple[int, int]:
        """(latest, pending): the next nonce by mined transactions, and counting the mempool."""
        return (
            self.w3.eth.get_transaction_count(self.signer.address, "latest"),
            self.w3.eth.get_transaction_count(self.signer.address, "pending"),
        )

    # -- simulate ---------------------------------------------------------------------
    def prepare(self, plans: Sequence[PlannedTx], heartbeat: Callable[[], None] | None = None) -> list[PreparedTx]:
        """Simulate each plan's execute(calls) (the simulation gives the gas). If it
        would revert, find the failing units by bisection (the shortest failing prefix ends
        with one), drop them and try the rest. Fees: one fee history per priority."""
        now = datetime.now(UTC)
        keys = [(plan.priority, self._fee_blocks(plan, now)) for plan in plans]
        # The fee history does not depend on the simulations: read while they run (a plan that
        # drops every intent needs none, and a failed read it does not need is not raised).
        fees = {key: self._reads.submit(self.market_fees, *key) for key in dict.fromkeys(keys)}
        units = [self._units(plan) for plan in plans]
        # Every plan whole, probed in two batched requests; only the rest is simulated one by one.
        requests = [self._request(u) for u in units]
        probed = self._probe_gas(requests)
        out = []
        for key, prepared in zip(keys, self._reads.map(self._prepare, units, requests, probed), strict=True):
            if heartbeat is not None:
                heartbeat()
            if prepared.intents:
                prepared.fees = fees[key].result()
                prepared.over_cap = over_cap(prepared.fees, self.config)
                prepared.l1_fee_wei = self.l1_fee(prepared)
            out.append(prepared)
        return out

    def _fee_blocks(self, plan: PlannedTx, now: datetime) -> int | None:
        """How many blocks the max fee must cover the base fee for: until the plan's earliest
        deadline, if any."""
        deadlines = [i.deadline for i in plan.intents if i.deadline is not None]
        return blocks_until((min(deadlines) - now).total_seconds() if deadlines else None, self.config)

    def l1_fee(self, prepared: PreparedTx) -> int:
        """The L1 data fee the prepared transaction will pay on top of gas: on OP Stack, the
        oracle's getL1Fee of its unsigned encoding (the nonce is not assigned yet: 65,535 stands
        in, encoded as long as any nonce up to it); 0 elsewhere. Reported, never decisive: a
        failed read is logged and gives 0."""
        if self.config.fee_model != "op_stack" or prepared.fees is None:
            return 0
        raw = unsigned_eip1559_tx(
            self.chain_id,
            _L1_FEE_NONCE,
            prepared.fees.max_priority_fee_per_gas,
            prepared.fees.max_fee_per_gas,
            prepared.gas,
            self.executor,
            bytes.fromhex(prepared.data.removeprefix("0x")),
        )
        try:
            return l1_data_fee(self.w3, self.config, raw)
        except Exception as exc:
            self.log.warning("L1 data fee not read", error=type(exc).__name__, message=str(exc)[:200])
            return 0

    @staticmethod
    def _units(plan: PlannedTx) -> list[_Unit]:
        return [
            _Unit(i.id, None, i.calls) if i.atomic else _Unit(i.id, g, group)
            for i in plan.intents
            for g, group in ([(None, i.calls)] if i.atomic else enumerate(i.groups))
        ]

    def _request(self, units: Sequence[_Unit]) -> dict[str, str]:
        data = "0x" + encode_execute([c for u in units for c in u.calls]).hex()
        return {"from": self.signer.address, "to": self.executor, "data": data}

    def _prepare(self, units: list[_Unit], whole: dict[str, str], probed: int | None = None) -> PreparedTx:
        """The plan's transaction from its units (`whole`: the request of all of them); `probed`,
        the gas they were already found to succeed with."""
        failures: list[IntentFailure] = []
        gas, reason = (probed, None) if probed is not None else self._simulate(units, whole)
        while reason is not None:
            low, high = 1, len(units)  # units[:high] fails; find the shortest failing prefix
            while low < high:
                middle = (low + high) // 2
                if self._simulate(units[:middle])[1] is None:
                    low = middle + 1
                else:
                    high = middle
            reason = self._simulate(units[:low])[1]
            bad = units.pop(low - 1)
            where = f"intent {bad.intent_id}" + (f" group {bad.group}" if bad.group is not None else "")
            failures.append(IntentFailure(intent_id=bad.intent_id, group=bad.group, reason=f"{where}: {reason}"))
            if not units:
                return PreparedTx(intents=[], failures=failures)
            gas, reason = self._simulate(units)
        calls = [c for u in units for c in u.calls]
        return PreparedTx(
            intents=list(dict.fromkeys(u.intent_id for u in units)),
            data=self._request(units)["data"] if failures else whole["data"],
            calls=len(calls),
            gas=gas * (10_000 + GAS_BUFFER_BPS) // 10_000 + GAS_HEADROOM,
            failures=failures,
        )

    def _simulate(self, units: Sequence[_Unit], request: dict[str, str] | None = None) -> tuple[int, str | None]:
        """(gas, None), or (0, the decoded revert reason) if the calls would revert (`request`:
        theirs, when already encoded). Raw JSON-RPC: web3's request formatting checksums every
        address, a keccak each, on the hot path."""
        request = request or self._request(units)
        if (gas := self._probe_gas([request])[0]) is not None:
            return gas, None
        response = self.w3.provider.make_request(RPCEndpoint("eth_estimateGas"), [request, "pending"])
        if "error" not in response:
            return int(response["result"], 16), None
        error = response["error"]
        revert = error.get("data") if isinstance(error, dict) else None
        if isinstance(revert, dict):  # some nodes nest it: {"data": {"data": "0x..."}}
            revert = revert.get("data")
        if isinstance(revert, str) and revert.startswith("0x"):
            return 0, decode_revert(revert)
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        if "revert" in message.lower():  # a node that gives no data, or a bare revert()
            return 0, decode_revert(None) + f" ({message[:200]})"
        raise RpcUnavailable(f"eth_estimateGas failed: {message[:200]}")  # not the chain's verdict

    def _probe_gas(self, requests: Sequence[dict[str, str]]) -> list[int | None]:
        """For each request, a gas limit its calls succeed with, from two executions
        (GAS_PROBE_BPS), or None: a revert, a limit that did not suffice, a node without the
        method. None leaves it to eth_estimateGas, which also names a revert's reason. All the
        requests' executions go out as two batches (`batch_request`)."""
        if not self.probe_gas or not requests:
            return [None] * len(requests)
        limits: list[int | None] = []
        for listed in batch_request(self.w3, [("eth_createAccessList", [r, "pending"]) for r in requests]):
            error, result = listed.get("error"), listed.get("result")
            if isinstance(error, dict) and error.get("code") == -32601:  # no such method here
                self.probe_gas = False
            used = result.get("gasUsed") if isinstance(result, dict) and not result.get("error") else None
            if error is None and isinstance(used, str):
                limits.append(int(used, 16) * GAS_PROBE_BPS // 10_000 + GAS_PROBE_ADD)
            else:
                limits.append(None)
        checks = [(r, limit) for r, limit in zip(requests, limits, strict=True) if limit is not None]
        checked = iter(
            batch_request(self.w3, [("eth_call", [r | {"gas": hex(limit)}, "pending"]) for r, limit in checks])
        )
        return [limit if limit is not None and "error" not in next(checked) else None for limit in limits]

    def market_fees(self, priority: Priority, blocks: int | None = None) -> Fees:
        return suggest_fees(self.w3, priority, self.config, blocks)

    # -- sign and broadcast -----------------------------------------------------------
    def sign(self, tx: UnsignedTx) -> SignedTx:
        signed = self.signer.sign_transaction(
            {
                "type": 2,
                "chainId": self.chain_id,
                "from": self.signer.address,
                "to": to_checksum_address(tx.to),
                "data": tx.data,
                "value": tx.value,
                "nonce": tx.nonce,
                "gas": tx.gas,
                "maxFeePerGas": tx.fees.max_fee_per_gas,
                "maxPriorityFeePerGas": tx.fees.max_priority_fee_per_gas,
            }
        )
        return SignedTx(nonce=tx.nonce, hash=signed.hash, raw="0x" + signed.raw.hex())

    def broadcast(self, tx: SignedTx) -> BroadcastResult:
        """Send signed bytes; "already known", or "nonce too low" when these bytes are mined,
        is success. Other refusals are named; transport failures raise (and are retried)."""
        # Raw JSON-RPC, as `_simulate`: web3's formatting is most of a send's time here.
        response = self.w3.provider.make_request(RPCEndpoint("eth_sendRawTransaction"), [tx.raw])
        if "error" not in response:
            return BroadcastResult(nonce=tx.nonce, hash=tx.hash, ok=True)
        refusal = response["error"]
        message = str(refusal.get("message", refusal) if isinstance(refusal, dict) else refusal)
        kind = send_refusal(message)
        message = message.lower()
        if kind == "known":
            return BroadcastResult(nonce=tx.nonce, hash=tx.hash, ok=True)
        if kind == "nonce_too_low":
            if self._receipt(tx.hash) is not None:
                return BroadcastResult(nonce=tx.nonce, hash=tx.hash, ok=True)
            error = "NonceTooLow"  # another version of ours, or another sender: the watcher tells
        elif kind == "insufficient_funds":
            error = "InsufficientFundsForGas"
        else:
            error = "Rejected"  # e.g. a replacement the node found underpriced
        return BroadcastResult(nonce=tx.nonce, hash=tx.hash, ok=False, error=error, message=message[:300])

    # -- watch ------------------------------------------------------------------------
    def watch(
        self,
        txs: Sequence[Watched],
        confirmations: int,
        wait_s: float,
        heartbeat: Callable[[], None] | None = None,
        chain_nonce_seen: int | None = None,
    ) -> list[TxStatus]:
        """Poll until a transaction is confirmed or its nonce taken, or `wait_s` passes.

        A version's receipt counts once it is `confirmations` deep and its block is still
        canonical; a receipt that vanished (a reorg) is no receipt. A nonce that nothing of ours
        holds while the chain has moved past it was taken by another sender. Bytes the node
        no longer knows (dropped, reorged out) are broadcast again. A failed poll is polled again.
        A signer's mined nonce below `chain_nonce_seen` (the chain took something back) returns
        at once, nothing rebroadcast: the queue's follower decides what was lost, and a reset
        chain is not flooded with transactions it cannot run.
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                statuses = self._poll(txs, confirmations, chain_nonce_seen)
                chain_nonce = statuses[0].chain_nonce if statuses else None  # every poll sets it
                if chain_nonce_seen is not None and chain_nonce is not None and chain_nonce < chain_nonce_seen:
                    return statuses
            except Exception as exc:  # one failed poll must not end the watch
                self.log.warning("watch poll failed; polling again", error=type(exc).__name__)
                statuses = [TxStatus(nonce=t.nonce, state="pending") for t in txs]  # no head: nothing closes
            if any(s.state in ("confirmed", "taken") for s in statuses) or time.monotonic() >= deadline:
                return statuses
            if heartbeat is not None:
                heartbeat()
            time.sleep(self.config.poll_interval_s)

    def look(self, txs: Sequence[Watched], confirmations: int, chain_nonce_seen: int | None = None) -> list[TxStatus]:
        """The first look right after a broadcast, as `watch` polls: on a chain that mines on
        arrival (a sequencer, anvil) most are confirmed by then; what is not yet is polled
        again every LOOK_EVERY_S for LOOK_AGAIN_S (a block being sealed), then left to the
        watcher. Those polls do not ask the node whether it still knows what it was just sent
        (a request per transaction): the watcher does."""
        statuses = self._poll(txs, confirmations, chain_nonce_seen)
        deadline = time.monotonic() + LOOK_AGAIN_S
        while time.monotonic() < deadline:
            pending = [t for t, s in zip(txs, statuses, strict=True) if s.state == "pending"]
            if not pending or any(s.state == "taken" for s in statuses):
                break
            time.sleep(LOOK_EVERY_S)
            again = {s.nonce: s for s in self._poll(pending, confirmations, chain_nonce_seen, rebroadcast=False)}
            statuses = [again.get(s.nonce, s) for s in statuses]
        return statuses

    def _poll(
        self, txs: Sequence[Watched], confirmations: int, chain_nonce_seen: int | None = None, rebroadcast: bool = True
    ) -> list[TxStatus]:
        head, latest_nonce, receipts = self._head_nonce_receipts(txs)
        if chain_nonce_seen is not None and latest_nonce < chain_nonce_seen:
            self.log.warning("the signer's nonce went back", nonce=latest_nonce, seen=chain_nonce_seen)
            return [TxStatus(nonce=t.nonce, state="pending", head=head, chain_nonce=latest_nonce) for t in txs]
        out = []
        for tx, receipt in zip(txs, receipts, strict=True):
            if receipt is not None:
                # A block mined after the head was read (a chain that mines on arrival, between
                # the reads) holds a receipt above that head: the head is at least its block.
                deep = max(head, receipt["blockNumber"]) >= receipt["blockNumber"] + confirmations - 1
                # At depth 1 the receipt's block is the newest the node has; deeper, it must
                # still be the canonical block at that height (a reorg drops it).
                if deep and (
                    confirmations == 1
                    or "0x" + self.w3.eth.get_block(receipt["blockNumber"])["hash"].hex() == receipt["blockHash"]
                ):
                    out.append(self._confirmed(tx, receipt))
                else:
                    out.append(TxStatus(nonce=tx.nonce, state="included"))  # mined, not yet deep
            elif latest_nonce > tx.nonce:
                # The chain passed the nonce and no receipt of ours was seen; but a reorg or a
                # node behind between the two reads can say so of our own transaction. Only the
                # transaction that holds the nonce on chain can tell.
                holder = self._holder(tx.nonce, head)
                if holder is None or holder in tx.hashes:
                    out.append(TxStatus(nonce=tx.nonce, state="pending"))
                else:
                    self.log.warning("nonce taken by another transaction", nonce=tx.nonce, holder=holder)
                    out.append(TxStatus(nonce=tx.nonce, state="taken"))
            else:
                # A private transaction is the relay's until its window closes: never public here.
                if rebroadcast and not tx.private and not any(self._known(h) for h in tx.hashes):
                    self.log.warning("transaction unknown to the node: broadcasting it again", nonce=tx.nonce)
                    self.broadcast(SignedTx(nonce=tx.nonce, hash=tx.hashes[-1], raw=tx.raw))
                out.append(TxStatus(nonce=tx.nonce, state="pending"))
        for status in out:
            status.head, status.chain_nonce = head, latest_nonce
        return out

    # -- follow until final -------------------------------------------------------------
    def follow(self, txs: Sequence[Followed], finality: str | int, mark: ChainMark | None) -> FollowResult:
        """Where settled transactions stand against the chain's final block, and whether the
        chain is still the one `mark` was taken on (if not, nothing else is read)."""
        problem = mismatch(self.w3, self.chain_id, mark)
        head = self.w3.eth.block_number
        latest_nonce = self.w3.eth.get_transaction_count(self.signer.address, head)
        lowest = min((t.block_number for t in txs), default=0)
        if not problem and head < lowest - SHORTER_FORK_BLOCKS:
            # A fork can be a block or two shorter (missed slots); a chain far below a block it
            # held has lost its past, whether or not the queue had a final block to compare.
            problem = (
                f"chain {self.chain_id} state does not match what the engine knew at block {lowest}: "
                f"the chain's head is block {head} (a reset chain)"
            )
        if problem:
            return FollowResult(head=head, final_block=-1, chain_nonce=latest_nonce, problem=problem)
        final = final_block(self.w3, finality, head)
        # Nothing final yet (a young chain, a node without the tag): the genesis still names it.
        at = max(final, 0)
        new_mark = mark_at(self.w3, at) if mark is None or at > mark.number else mark
        receipts = self._first_receipts(txs)
        statuses = []
        for tx, receipt in zip(txs, receipts, strict=True):
            if receipt is not None:
                state = "final" if receipt["blockNumber"] <= final else "settled"
                record = TxRecord(
                    chain_id=self.chain_id,
                    tx_hash=receipt["transactionHash"],
                    nonce=tx.nonce,
                    block_number=receipt["blockNumber"],
                    gas_used=receipt["gasUsed"],
                    effective_gas_price=receipt["effectiveGasPrice"],
                    status=receipt["status"],
                    calls=0,
                )
                statuses.append(FollowStatus(nonce=tx.nonce, state=state, record=record))
            # The nonce is free when the head holds nothing at it, whatever the nonce read before
            # said: that read can have raced the reorg (before it, the receipt after), and signing
            # the intents again at a new nonce would leave this one a gap.
            elif latest_nonce <= tx.nonce or (holder := self._holder(tx.nonce, head)) is None:
                self.log.warning("a settled transaction was reorged out", nonce=tx.nonce, block=tx.block_number)
                statuses.append(FollowStatus(nonce=tx.nonce, state="reorged"))
            elif holder in tx.hashes:  # mined again between two reads
                statuses.append(FollowStatus(nonce=tx.nonce, state="settled"))
            else:
                self.log.warning("a settled transaction's nonce is held by another", nonce=tx.nonce, holder=holder)
                statuses.append(FollowStatus(nonce=tx.nonce, state="taken"))
        return FollowResult(head=head, final_block=final, chain_nonce=latest_nonce, mark=new_mark, statuses=statuses)

    def check_chain(self, mark: ChainMark | None) -> None:
        """Raises ChainRewritten when the chain is not the one `mark` was taken on."""
        problem = mismatch(self.w3, self.chain_id, mark)
        if problem:
            raise ChainRewritten(problem)

    def check_chain_soon(self, mark: ChainMark | None) -> Future[None]:
        """`check_chain` on a read thread: its `result()` raises what it would."""
        return self._reads.submit(self.check_chain, mark)

    def _holder(self, nonce: int, head: int) -> str | None:
        """The hash of the signer's transaction mined at `nonce`, or None if the chain at `head`
        does not hold one (yet): the block where the signer's nonce passed `nonce` is found
        by stepping back from the head, then bisecting."""
        count = self.w3.eth.get_transaction_count
        if count(self.signer.address, head) <= nonce:
            return None
        high, step = head, 1  # count(high) > nonce
        while high - step > 0 and count(self.signer.address, high - step) > nonce:
            high, step = high - step, step * 2
        low = max(high - step, 0)  # count(low) <= nonce
        while high - low > 1:
            middle = (low + high) // 2
            if count(self.signer.address, middle) > nonce:
                high = middle
            else:
                low = middle
        for t in block_transactions(self.w3, high):
            if t["from"] == self.signer.address and t["nonce"] == nonce:
                return "0x" + bytes(t["hash"]).hex()
        return None

    def _confirmed(self, tx: Watched, receipt: dict[str, Any]) -> TxStatus:
        tx_hash = receipt["transactionHash"]
        record = TxRecord(
            chain_id=self.chain_id,
            tx_hash=tx_hash,
            nonce=tx.nonce,
            block_number=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            effective_gas_price=receipt["effectiveGasPrice"],
            status=receipt["status"],
            calls=tx.calls,
        )
        reason = "" if record.status == 1 else self._mined_revert_reason(tx_hash, receipt["blockNumber"])
        self.log.info(
            "transaction confirmed", tx_hash=tx_hash, nonce=tx.nonce, block=record.block_number, intents=tx.intents
        )
        return TxStatus(nonce=tx.nonce, state="confirmed", record=record, reason=reason)

    def _mined_revert_reason(self, tx_hash: str, block: int) -> str:
        """Replays a reverted transaction on its parent block's state for the reason."""
        tx = self.w3.eth.get_transaction(HexStr(tx_hash))
        request: TxParams = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx["input"],
            "value": tx["value"],
            "gas": tx["gas"],
        }
        try:
            self.w3.eth.call(request, block - 1)
        except ContractLogicError as exc:
            return revert_reason(exc)
        except Exception as exc:  # the reason is a courtesy; the failure itself is already known
            self.log.debug("revert reason not replayed", error=type(exc).__name__)
        return "reverted (no reason on replay)"

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self._receipts([tx_hash])[0]

    def _receipts(self, tx_hashes: Sequence[str]) -> list[dict[str, Any] | None]:
        """Each receipt's fields the queue uses, as ints, or None; read as one batch. Raw
        JSON-RPC, as `_simulate`."""
        return [_receipt_of(r) for r in batch_request(self.w3, [("eth_getTransactionReceipt", [h]) for h in tx_hashes])]

    def _first_receipts(self, txs: Sequence[Watched] | Sequence[Followed]) -> list[dict[str, Any] | None]:
        """For each transaction, the receipt of the first of its versions that has one."""
        return self._firsts(txs, self._receipts([h for tx in txs for h in tx.hashes]))

    @staticmethod
    def _firsts(
        txs: Sequence[Watched] | Sequence[Followed], receipts: list[dict[str, Any] | None]
    ) -> list[dict[str, Any] | None]:
        found = iter(receipts)
        return [next(filter(None, [next(found) for _ in tx.hashes]), None) for tx in txs]

    def _head_nonce_receipts(self, txs: Sequence[Watched]) -> tuple[int, int, list[dict[str, Any] | None]]:
        """The head, the signer's mined nonce and each transaction's first receipt, in one batch
        (a poll's three reads, on the hot path of every broadcast's look). The nonce is read at
        "latest", which may be a block above the head read beside it: a nonce passed with no
        receipt seen is only ever settled by `_holder`, which reads at the head itself."""
        hashes = [h for tx in txs for h in tx.hashes]
        answers = batch_request(
            self.w3,
            [
                ("eth_blockNumber", []),
                ("eth_getTransactionCount", [self.signer.address, "latest"]),
                *(("eth_getTransactionReceipt", [h]) for h in hashes),
            ],
        )
        for method, answer in zip(("eth_blockNumber", "eth_getTransactionCount"), answers, strict=False):
            if "error" in answer or not isinstance(answer.get("result"), str):
                raise RpcUnavailable(f"{method} failed: {str(answer.get('error'))[:200]}")
        head, nonce = int(answers[0]["result"], 16), int(answers[1]["result"], 16)
        return head, nonce, self._firsts(txs, [_receipt_of(a) for a in answers[2:]])

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(HexStr(tx_hash))
            return True
        except TransactionNotFound:
            return False


def _receipt_of(response: RPCResponse) -> dict[str, Any] | None:
    """A raw eth_getTransactionReceipt answer: the fields the queue uses, as ints, or None."""
    if "error" in response:
        raise RpcUnavailable(f"eth_getTransactionReceipt failed: {str(response['error'])[:200]}")
    raw = response.get("result")
    if raw is None:
        return None
    receipt = {k: int(raw[k], 16) for k in ("blockNumber", "gasUsed", "effectiveGasPrice", "status")}
    return receipt | {"blockHash": raw["blockHash"], "transactionHash": raw["transactionHash"]}
