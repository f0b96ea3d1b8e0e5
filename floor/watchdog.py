"""The watchdog: the second line behind the executor's rules.

Only the operator key may call an executor's `execute`, and the engine uses that key only
through its transaction queue, which records every transaction it signs (every version of a
nonce: fee bumps and cancels too) in the store before broadcasting it (`signed_tx`; the
mined ones are also journalled, `tx_journal`). So a transaction from the operator key that
the store does not know, or an `execute` (a `CallExecuted` log) that it does not know, means
the key is in someone else's hands. The watchdog then logs at critical, counts it, pauses
the executor with the guardian key (its own nonce, EIP-1559 fees) and records a critical
alert in the store.

It runs as a process of its own (`floor-watchdog`, `workers/watchdog.py`), one thread per
watched chain, polling new blocks; a cursor per executor in the store makes a restart resume
where it stopped, neither missing nor handling a block twice.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_typing import ChecksumAddress, HexStr
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import TxData, TxParams, Wei

from floor import metrics
from floor.chain.executor import EXECUTE as EXECUTE_SIGNATURE
from floor.chain.fees import suggest_fees
from floor.chain.rpc import block_transactions
from floor.chain.signer import Signer
from floor.config import ChainConfig, Settings, WatchdogConfig
from floor.logging import get_logger
from floor.models import Priority
from floor.store import Store

FOREIGN = "foreign_transaction"  # the alert's kind; its subject is "<chain id>:<tx hash>"
EXECUTE = function_signature_to_4byte_selector(EXECUTE_SIGNATURE)
CALL_EXECUTED = "0x" + keccak(text="CallExecuted(uint256,address,bytes4,uint256)").hex()
OPERATOR_CHANGED = "0x" + keccak(text="OperatorChanged(address,address)").hex()
PAUSE_GAS_HEADROOM = 20_000

EXECUTOR_ABI = [
    *(
        {"type": "function", "name": name, "stateMutability": "view", "inputs": [], "outputs": [{"type": kind}]}
        for name, kind in (("operator", "address"), ("guardian", "address"), ("owner", "address"), ("paused", "bool"))
    ),
    {"type": "function", "name": "pause", "stateMutability": "nonpayable", "inputs": [], "outputs": []},
]


class WatchdogError(Exception):
    """The watchdog cannot do its job (wrong key, no executor): it refuses to start."""


@dataclass(frozen=True)
class Suspect:
    """A transaction the engine's queue must have signed: one from the operator key, or one
    that ran an execute."""

    tx_hash: str  # 0x, lowercase
    block: int
    sender: str
    nonce: int
    to: str | None
    execute: bool  # a call of the executor's execute (mined successfully or not)


@dataclass(frozen=True)
class Finding:
    chain_id: int
    suspect: Suspect
    outcome: str  # paused, already_paused
    pause_tx: str | None = None


class ExecutorWatch:
    """One chain's executor: what `poll` finds between the cursor and the head, and the answer."""

    def __init__(self, chain: ChainConfig, w3: Web3, store: Store, guardian: Signer, config: WatchdogConfig):
        if chain.executor is None:
            raise WatchdogError(f"chain {chain.id} has no executor to watch")
        self.chain, self.w3, self.store, self.guardian, self.config = chain, w3, store, guardian, config
        self.executor = w3.eth.contract(address=to_checksum_address(chain.executor), abi=EXECUTOR_ABI)
        self.log = get_logger(process="floor-watchdog", chain_id=chain.id, executor=chain.executor)

    def check_roles(self) -> None:
        """Refuse to start with a key whose pause() would revert, or that is the operator's."""
        f = self.executor.functions
        guardian, owner, operator = f.guardian().call(), f.owner().call(), f.operator().call()
        me = self.guardian.address
        if me == operator:
            raise WatchdogError(f"chain {self.chain.id}: the guardian key is the executor's operator {operator}")
        if me not in (guardian, owner):
            raise WatchdogError(
                f"chain {self.chain.id}: executor {self.executor.address} has guardian {guardian}, not the"
                f" watchdog's key {me}: its pause() would revert"
            )

    def poll(self) -> list[Finding]:
        """Check the blocks after the cursor (at most `max_blocks`), answer what is foreign,
        then move the cursor. A failure leaves the cursor: the next pass does the blocks again
        (an alert is raised once per transaction; a paused executor is not paused again)."""
        head = self.w3.eth.block_number
        cursor = self.store.watchdog_cursor(self.chain.id, self.executor.address)
        if cursor is None:
            # First start: watch from the head on; what came before is the audit's business.
            self._advance(head)
            self.log.info("watching from the head", block=head)
            return []
        if head <= cursor:
            return []
        end = min(head, cursor + self.config.max_blocks)
        findings = [self._respond(s) for s in self._foreign(self._suspects(cursor + 1, end, head))]
        self._advance(end)
        return findings

    def _advance(self, block: int) -> None:
        self.store.set_watchdog_cursor(self.chain.id, self.executor.address, block, datetime.now(UTC))
        metrics.WATCHDOG_BLOCK.labels(chain_id=str(self.chain.id)).set(block)

    # -- what happened ------------------------------------------------------------------
    def _suspects(self, start: int, end: int, head: int | None = None) -> list[Suspect]:
        """Every transaction in [start, end] from the key that was the operator in its block,
        and every one that emitted `CallExecuted` (whoever the operator was then)."""
        spans = self._operator_spans(start, end, end if head is None else head)
        spans = [(key, first, last) for key, first, last in spans if self._operator_sent(key, first, last)]
        found: dict[str, Suspect] = {}
        for number in range(start, end + 1):
            senders = {key for key, first, last in spans if first <= number <= last}
            if not senders:
                continue
            for tx in block_transactions(self.w3, number):
                if tx["from"] in senders:
                    suspect = self._suspect(tx, number)
                    found[suspect.tx_hash] = suspect
        logs = self.w3.eth.get_logs(
            {"address": self.executor.address, "topics": [CALL_EXECUTED], "fromBlock": start, "toBlock": end}
        )
        for h in {"0x" + bytes(log["transactionHash"]).hex() for log in logs} - found.keys():
            tx = self.w3.eth.get_transaction(HexStr(h))
            found[h] = self._suspect(tx, tx["blockNumber"])
        return sorted(found.values(), key=lambda s: (s.block, s.nonce))

    def _operator_spans(self, start: int, end: int, head: int) -> list[tuple[ChecksumAddress, int, int]]:
        """Who was the operator in [start, end]: (key, first block, last block), a change's
        block counting for both keys, from the range's `OperatorChanged` logs."""
        changes = self._operator_changes(start, end)
        if not changes:
            return [(self._operator_at(end, head), start, end)]
        spans: list[tuple[ChecksumAddress, int, int]] = []
        first = start
        for previous, _, block in changes:
            spans.append((previous, first, block))
            first = block
        spans.append((changes[-1][1], first, end))
        return spans

    def _operator_at(self, block: int, head: int) -> ChecksumAddress:
        """The operator at `block`: read there, or, from a node that no longer has that block's
        state (a full node keeps its last 128 blocks': a watchdog down longer must still read
        its way back), the key the first later change replaced, or the operator at the head."""
        try:
            return to_checksum_address(self.executor.functions.operator().call(block_identifier=block))
        except Exception:
            self.log.info("the operator is read from later changes: no state at the block here", block=block)
        for first in range(block + 1, head + 1, self.config.max_blocks):
            changes = self._operator_changes(first, min(head, first + self.config.max_blocks - 1))
            if changes:
                return changes[0][0]
        return to_checksum_address(self.executor.functions.operator().call(block_identifier=head))

    def _operator_changes(self, start: int, end: int) -> list[tuple[ChecksumAddress, ChecksumAddress, int]]:
        """(previous, next, block) of each `OperatorChanged` in [start, end], in order."""
        logs = self.w3.eth.get_logs(
            {"address": self.executor.address, "topics": [OPERATOR_CHANGED], "fromBlock": start, "toBlock": end}
        )
        ordered = sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"]))
        return [
            (
                to_checksum_address(bytes(log["topics"][1])[-20:]),
                to_checksum_address(bytes(log["topics"][2])[-20:]),
                int(log["blockNumber"]),
            )
            for log in ordered
        ]

    def _operator_sent(self, operator: ChecksumAddress, start: int, end: int) -> bool:
        """Whether the operator's nonce moved in the range: only then are blocks read whole.
        A node that has pruned the state at `start - 1` gets every block read."""
        try:
            before = self.w3.eth.get_transaction_count(operator, start - 1)
            return self.w3.eth.get_transaction_count(operator, end) != before
        except Exception:
            return True

    def _suspect(self, tx: TxData, block: int) -> Suspect:
        to = tx["to"]
        data = bytes(tx["input"])
        return Suspect(
            tx_hash="0x" + bytes(tx["hash"]).hex(),
            block=block,
            sender=tx["from"],
            nonce=tx["nonce"],
            to=to,
            execute=to == self.executor.address and data[:4] == EXECUTE,
        )

    def _foreign(self, suspects: list[Suspect]) -> list[Suspect]:
        """Those the store does not know. The queue records a hash before it broadcasts it, so
        one of ours is known before it can be mined; the one look again after `grace_s` is for
        a store whose reads lag its writes (a replica), not for the queue's order."""
        unknown = self._unknown(suspects)
        if unknown and self.config.grace_s > 0:
            time.sleep(self.config.grace_s)
            unknown = self._unknown(unknown)
        return unknown

    def _unknown(self, suspects: list[Suspect]) -> list[Suspect]:
        known = self.store.known_transactions(self.chain.id, [s.tx_hash for s in suspects])
        return [s for s in suspects if s.tx_hash not in known]

    # -- the answer ---------------------------------------------------------------------
    def _respond(self, s: Suspect) -> Finding:
        chain_id = str(self.chain.id)
        what = "an execute" if s.execute else f"a transaction to {s.to}"
        self.log.critical(
            "foreign transaction from the operator key",
            tx_hash=s.tx_hash,
            sender=s.sender,
            nonce=s.nonce,
            block=s.block,
            execute=s.execute,
        )
        metrics.WATCHDOG_FOREIGN_TXS.labels(chain_id=chain_id).inc()
        detail = (
            f"{what} from {s.sender} (nonce {s.nonce}, block {s.block}) that the engine's queue did not sign:"
            f" the operator key is in someone else's hands."
        )
        # Pause first, then record: the pause must not wait on (or fail with) the store.
        try:
            if self.executor.functions.paused().call():
                outcome, pause_tx = "already_paused", None
            else:
                outcome, pause_tx = "paused", self._pause()
        except Exception as exc:
            metrics.WATCHDOG_PAUSES.labels(chain_id=chain_id, outcome="failed").inc()
            self.log.critical("could not pause the executor", tx_hash=s.tx_hash, error=f"{type(exc).__name__}: {exc}")
            self._alert(FOREIGN, s, f"{detail} The guardian's pause failed ({type(exc).__name__}: {exc}); retrying.")
            raise
        metrics.WATCHDOG_PAUSES.labels(chain_id=chain_id, outcome=outcome).inc()
        if outcome == "paused":
            self.log.critical("executor paused by the guardian", pause_tx=pause_tx, tx_hash=s.tx_hash)
            answer = f"The guardian {self.guardian.address} paused the executor (transaction {pause_tx})."
        else:
            self.log.critical("executor already paused", tx_hash=s.tx_hash)
            answer = "The executor was already paused: not paused again."
        self._alert(FOREIGN, s, f"{detail} {answer}")
        return Finding(self.chain.id, s, outcome, pause_tx)

    def _alert(self, kind: str, s: Suspect, detail: str) -> None:
        self.store.raise_alert(kind, f"{self.chain.id}:{s.tx_hash}", detail, datetime.now(UTC))

    def _pause(self) -> str:
        """The guardian's pause(), at CRITICAL fees, waited for until mined."""
        return pause_executor(self.w3, self.chain, self.guardian, self.config.pause_timeout_s)[0]


def pause_executor(w3: Web3, chain: ChainConfig, guardian: Signer, timeout_s: float) -> tuple[str, int]:
    """The guardian's (or the owner's) pause() of the chain's executor, at CRITICAL fees, waited
    for until mined: its transaction hash and block. The watchdog's answer to a foreign
    transaction, and `floor pause --onchain`."""
    if chain.executor is None:
        raise WatchdogError(f"chain {chain.id} has no executor to pause")
    executor = w3.eth.contract(address=to_checksum_address(chain.executor), abi=EXECUTOR_ABI)
    me = guardian.address
    call = executor.functions.pause()
    try:
        gas = call.estimate_gas({"from": me})
    except ContractLogicError as exc:
        raise WatchdogError(f"pause() would revert for {me}: {exc}") from None
    fees = suggest_fees(w3, Priority.CRITICAL, chain.tx)
    params: TxParams = {
        "type": 2,
        "chainId": chain.id,
        "from": me,
        "nonce": w3.eth.get_transaction_count(me, "pending"),
        "gas": gas + PAUSE_GAS_HEADROOM,
        "maxFeePerGas": Wei(fees.max_fee_per_gas),
        "maxPriorityFeePerGas": Wei(fees.max_priority_fee_per_gas),
    }
    tx = call.build_transaction(params)
    signed = guardian.sign_transaction(tx)
    w3.eth.send_raw_transaction(signed.raw)
    receipt = w3.eth.wait_for_transaction_receipt(HexStr(signed.hash), timeout=timeout_s, poll_latency=0.2)
    if receipt["status"] != 1:
        raise WatchdogError(f"pause transaction {signed.hash} reverted")
    return signed.hash, receipt["blockNumber"]


class Watchdog:
    """Every watched chain's `ExecutorWatch`, each polled on a thread of its own."""

    def __init__(self, settings: Settings, store: Store, guardian: Signer, web3s: dict[int, Web3]):
        config = settings.watchdog
        ids = config.chains or [c.id for c in settings.chains if c.executor is not None]
        if not ids:
            raise WatchdogError("no chain has an executor to watch")
        self.config = config
        self.watches = [ExecutorWatch(settings.chain(i), web3s[i], store, guardian, config) for i in ids]
        self.log = get_logger(process="floor-watchdog")

    def check_roles(self) -> None:
        for watch in self.watches:
            watch.check_roles()

    def poll_once(self) -> list[Finding]:
        return [f for watch in self.watches for f in watch.poll()]

    def run(self, stop: threading.Event) -> None:
        """Poll every chain until `stop` is set; a failed pass is logged and tried again."""
        threads = [
            threading.Thread(target=self._loop, args=(w, stop), name=f"watchdog-{w.chain.id}", daemon=True)
            for w in self.watches
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _loop(self, watch: ExecutorWatch, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                watch.poll()
            except Exception as exc:
                watch.log.error("watchdog pass failed; trying again", error=f"{type(exc).__name__}: {exc}")
            stop.wait(self.config.poll_interval_s)
