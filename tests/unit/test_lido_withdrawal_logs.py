"""The requests a mined transaction made in Lido's withdrawal queue, from its own logs: only
the queue's `WithdrawalRequested` whose requestor and owner are both the account."""

from __future__ import annotations

from eth_abi import encode
from hexbytes import HexBytes

from floor.protocols.lido.withdrawal_logs import WITHDRAWAL_REQUESTED, RequestMade, requests_made

QUEUE = "0x889edC2eDab5f40e902b864aD4d7AdE8E412F9B1"
EXECUTOR = "0x" + "ee" * 20
SOMEONE = "0x" + "5e" * 20


def word(n: int) -> HexBytes:
    return HexBytes(n.to_bytes(32, "big"))


def address_topic(address: str) -> HexBytes:
    return HexBytes(bytes(12) + bytes.fromhex(address[2:]))


def requested(
    request_id: int, amount: int, requestor=EXECUTOR, owner=EXECUTOR, queue=QUEUE, topic=WITHDRAWAL_REQUESTED
):
    return {
        "address": queue,
        "topics": [HexBytes(topic), word(request_id), address_topic(requestor), address_topic(owner)],
        "data": HexBytes(encode(["uint256", "uint256"], [amount, amount - 1])),
    }


def test_the_accounts_own_requests_in_the_queue_in_log_order():
    logs = [
        requested(7, 10**18),
        requested(8, 2 * 10**18, requestor=SOMEONE),  # someone else's request for the executor
        requested(9, 3 * 10**18, owner=SOMEONE),  # the executor's request for someone else
        requested(10, 4 * 10**18, queue="0x" + "00" * 20),  # another contract's event
        requested(11, 5 * 10**18, topic="0x" + "ab" * 32),  # another event of the queue
        {"address": QUEUE, "topics": [HexBytes(WITHDRAWAL_REQUESTED)], "data": HexBytes(b"")},  # not indexed so
        requested(5, 6 * 10**18),
    ]
    # Addresses compare in any case.
    assert requests_made(logs, QUEUE.lower(), EXECUTOR.upper().replace("0X", "0x")) == [
        RequestMade(id=7, amount=10**18),
        RequestMade(id=5, amount=6 * 10**18),
    ]
    assert requests_made([], QUEUE, EXECUTOR) == []
