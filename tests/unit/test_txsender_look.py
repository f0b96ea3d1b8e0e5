"""TxSender.look (the first look right after a broadcast) against a chain that mines on arrival:
a transaction mined between the head read and the receipt read has a receipt one block above
that head. At one confirmation it is confirmed, not left "included" for the watcher (which
cost the queue a watch activity and two workflow tasks per batch on such chains)."""

from __future__ import annotations

from types import SimpleNamespace

from eth_account import Account

from floor.chain.signer import LocalKeySigner
from floor.chain.txsender import TxSender
from floor.config import TxConfig
from floor.txqueue import Watched

OURS = "0x" + "aa" * 32
SIGNER = LocalKeySigner(Account.create())
HEAD = 20  # the head the look reads first; ours is mined in block 21 just after


class MinesOnArrival:
    def __init__(self):
        self.polls = 0
        self.eth = SimpleNamespace(get_transaction_count=lambda _address, _block: 1)
        self.provider = SimpleNamespace(make_request=self.request)

    def request(self, method, params):
        if method == "eth_blockNumber":
            return {"result": hex(HEAD)}
        if method == "eth_getTransactionCount":
            return {"result": hex(1)}
        if method == "eth_getTransactionReceipt":
            self.polls += 1
            block = hex(HEAD + 1)
            return {
                "result": {
                    "blockNumber": block,
                    "gasUsed": hex(21_000),
                    "effectiveGasPrice": hex(10**9),
                    "status": "0x1",
                    "blockHash": "0x" + "11" * 32,
                    "transactionHash": params[0],
                }
            }
        raise AssertionError(f"unexpected {method}")


def look(confirmations: int) -> tuple[str, int]:
    chain = MinesOnArrival()
    sender = TxSender(chain, 1, "0x" + "00" * 20, SIGNER, TxConfig())  # type: ignore[arg-type]
    (status,) = sender.look([Watched(nonce=1, hashes=[OURS], raw="0x", intents=["i"])], confirmations)
    return status.state, chain.polls


def test_a_receipt_above_the_head_read_is_confirmed_at_one_confirmation_in_one_poll():
    assert look(1) == ("confirmed", 1)


def test_a_receipt_above_the_head_read_is_not_deep_enough_for_two_confirmations():
    state, _ = look(2)
    assert state == "included"
