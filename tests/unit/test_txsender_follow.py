"""TxSender.follow against a chain that changes between its reads: a reorg landing between the
nonce read and the receipt read must not pass for "another transaction holds the nonce"
(the queue would sign the intents again at a new nonce and leave this one a gap)."""

from __future__ import annotations

from types import SimpleNamespace

from eth_account import Account

from floor.chain.signer import LocalKeySigner
from floor.chain.txsender import TxSender
from floor.config import TxConfig
from floor.txqueue import Followed

OURS = "0x" + "aa" * 32
THEIRS = "0x" + "bb" * 32
SIGNER = LocalKeySigner(Account.create())


class Chain:
    """A head of 20 blocks; `counts[n]` the signer's nonce at block n; `mined` the hash mined
    at nonce 1 (None: nothing); the first nonce read at the head sees the chain from before a
    reorg when `stale_first_read`."""

    def __init__(self, mined: str | None, count_at_head: int, stale_first_read: bool):
        self.mined, self.count_at_head, self.stale = mined, count_at_head, stale_first_read
        self.eth = SimpleNamespace(block_number=20, get_transaction_count=self.count)
        self.provider = SimpleNamespace(make_request=self.request)

    def count(self, _address, block) -> int:
        if self.stale:  # read before the reorg: the transaction at nonce 1 was still there
            self.stale = False
            return 2
        return self.count_at_head if block >= 10 else 1

    def request(self, method, params):
        if method == "eth_getTransactionReceipt":
            return {"result": None}  # ours is not mined (any more)
        if method == "eth_getBlockByNumber":
            number = params[0]
            if self.mined is not None and number == hex(10):
                return {"result": {"hash": "0x" + "11" * 32, "number": number, "transactions": [self.mined]}}
            return {"result": {"hash": "0x" + "22" * 32, "number": number, "transactions": []}}
        raise AssertionError(f"unexpected {method}")


def follow(chain: Chain) -> str:
    sender = TxSender(chain, 1, "0x" + "00" * 20, SIGNER, TxConfig())  # type: ignore[arg-type]
    # The bisecting search for the holder, answered by the fake chain straight away.
    sender._holder = lambda nonce, head: chain.mined if chain.count(None, head) > nonce else None  # type: ignore[method-assign]
    result = sender.follow([Followed(nonce=1, hashes=[OURS], block_number=9)], 3, None)
    return result.statuses[0].state


def test_a_reorg_between_the_nonce_read_and_the_receipt_read_is_a_reorg():
    assert follow(Chain(mined=None, count_at_head=1, stale_first_read=True)) == "reorged"


def test_a_nonce_another_transaction_holds_is_taken():
    assert follow(Chain(mined=THEIRS, count_at_head=2, stale_first_read=False)) == "taken"


def test_a_nonce_that_is_free_is_reorged():
    assert follow(Chain(mined=None, count_at_head=1, stale_first_read=False)) == "reorged"
