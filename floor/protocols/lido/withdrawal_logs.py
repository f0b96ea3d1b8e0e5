"""The withdrawal requests a mined transaction made in Lido's WithdrawalQueueERC721, from the
queue's own `WithdrawalRequested(requestId, requestor, owner, amountOfStETH, shares)` logs.

Only requests whose requestor and owner are both the account count: a request someone else
made for it is never taken for one of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from eth_utils.crypto import keccak

WITHDRAWAL_REQUESTED = "0x" + keccak(text="WithdrawalRequested(uint256,address,address,uint256,uint256)").hex()


@dataclass(frozen=True)
class RequestMade:
    id: int
    amount: int  # stETH requested (wei)


def _topic_address(topic: bytes) -> str:
    return "0x" + bytes(topic)[-20:].hex()


def requests_made(logs: Iterable[Mapping[str, Any]], queue: str, account: str) -> list[RequestMade]:
    """The requests among a receipt's `logs` (web3's log dicts) that `account` made in `queue`
    for itself, in log order."""
    queue, account = queue.lower(), account.lower()
    made = []
    for log in logs:
        topics = log["topics"]
        if (
            log["address"].lower() == queue
            and len(topics) == 4
            and "0x" + bytes(topics[0]).hex() == WITHDRAWAL_REQUESTED
            and _topic_address(topics[2]) == account
            and _topic_address(topics[3]) == account
        ):
            amount, _shares = decode(["uint256", "uint256"], bytes(log["data"]))
            made.append(RequestMade(id=int.from_bytes(bytes(topics[1]), "big"), amount=amount))
    return made
