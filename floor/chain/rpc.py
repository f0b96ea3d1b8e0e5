"""RPC access: one Web3 per chain, with timeouts and fallback URLs, counting its requests.

RPC URLs usually carry an API key, so every message, log line and error here names a URL
only by `redact_url` (scheme and host), and the key-like parts are registered with the log
redactor the moment a provider is made.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import requests
from web3 import Web3
from web3.providers import HTTPProvider, JSONBaseProvider
from web3.types import FilterParams, LogReceipt, RPCEndpoint, RPCResponse, TxData

from floor.chain.errors import ChainMismatch, RpcUnavailable
from floor.logging import get_logger, redact_url, register_url_secrets

log = get_logger()
_T = TypeVar("_T")

# Providers refuse eth_getLogs over wide ranges (10,000 blocks is a common bound): a query from
# a contract's deployment to the head is read in windows of this many blocks.
LOG_WINDOW_BLOCKS = 10_000

# Many reads go out as JSON-RPC batches: a node answers 64 simulations in one request about ten
# times faster than in 64 (most of a small request's cost is its HTTP round and its encoding).
# Providers bound a batch's size (commonly 50 to 1,000) or refuse batches: a batch is sent in
# chunks of at most this many, and a URL that answers a batch with anything but one answer per
# request is asked one request at a time from then on.
RPC_BATCH_MAX = 40

# Failures that mean "this endpoint is unhealthy", as opposed to a JSON-RPC error answer
# (a revert, a bad nonce), which is the chain's verdict and must not be retried elsewhere:
# any requests failure (refused, timeout, 5xx, a truncated body), and a body that is not
# JSON (a proxy's HTML error page, even with status 200) or not UTF-8, on which web3's
# decoding fails.
_TRANSPORT_ERRORS = (requests.RequestException, json.JSONDecodeError, UnicodeDecodeError)


class _UrlFailed(Exception):
    """One URL did not give a JSON-RPC answer; the text says why, without the URL."""


class FallbackHTTPProvider(JSONBaseProvider):
    """Sends each request to the first healthy URL; when a URL fails (transport error, a body
    that is not JSON-RPC) moves to the next.

    The URL that answered stays preferred until it fails, so a flapping primary does not
    double every request's latency. With `chain_id`, a URL is used only once it has answered
    `eth_chainId` with that id; one serving another chain is disabled for good (see
    `check_chain_ids`). `request_counts` counts requests by method, the chain id checks
    included (for tests, benchmarks and metrics).
    """

    def __init__(self, urls: list[str], timeout_s: float = 10.0, chain_id: int | None = None):
        super().__init__()
        if not urls:
            raise ValueError("at least one RPC URL is needed")
        for url in urls:
            register_url_secrets(url)
        self.urls = list(urls)
        self.chain_id = chain_id
        self._providers = [
            HTTPProvider(url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None)
            for url in self.urls
        ]
        self._verified = [chain_id is None] * len(self.urls)
        self._disabled: dict[int, int] = {}  # index -> the chain id that URL serves
        self._no_batches: set[int] = set()  # URLs that refused a JSON-RPC batch
        self._preferred = 0
        self._lock = threading.Lock()
        self.request_counts: Counter[str] = Counter()

    @property
    def total_requests(self) -> int:
        return sum(self.request_counts.values())

    def check_chain_ids(self) -> None:
        """Start-up check: ask every URL its chain id. The primary serving another chain raises
        `ChainMismatch`; a fallback doing so is disabled. A URL that does not answer now is
        checked the first time a request moves to it. Without a configured chain id, nothing to check."""
        if self.chain_id is None:
            return
        for index in range(len(self.urls)):
            try:
                served = self._served_chain_id(index)
            except _UrlFailed:
                continue
            if index == 0 and served != self.chain_id:
                raise ChainMismatch(
                    f"RPC URL {redact_url(self.urls[0])} serves chain {served}, not the configured chain {self.chain_id}"
                )
            self._settle(index, served)

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._lock:
            self.request_counts[method] += 1
        return self._with_failover(method, lambda index: self._send(index, method, params))

    def make_batch_request(self, batch_requests: Sequence[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
        """One answer per request, in order, sent as JSON-RPC batches of at most RPC_BATCH_MAX
        (see there). A chunk fails over to the next URL as a request does; an answer that is a
        JSON-RPC error stays that request's answer."""
        with self._lock:
            self.request_counts.update(method for method, _ in batch_requests)
        out: list[RPCResponse] = []
        for i in range(0, len(batch_requests), RPC_BATCH_MAX):
            chunk = list(batch_requests[i : i + RPC_BATCH_MAX])
            out += self._with_failover(f"a batch of {len(chunk)}", partial(self._send_batch, chunk=chunk))
        return out

    def _with_failover(self, label: str, send: Callable[[int], _T]) -> _T:
        """`send(index)` on the preferred URL, then on each next one while they fail."""
        start = self._preferred
        errors: list[str] = []
        for offset in range(len(self._providers)):
            index = (start + offset) % len(self._providers)
            try:
                if not self._verified[index] and index not in self._disabled:
                    self._settle(index, self._served_chain_id(index))
                if index in self._disabled:
                    errors.append(f"{redact_url(self.urls[index])}: serves chain {self._disabled[index]}")
                    continue
                response = send(index)
            except _UrlFailed as exc:
                errors.append(f"{redact_url(self.urls[index])}: {exc}")
                continue
            if index != start:
                with self._lock:
                    self._preferred = index
            return response
        raise RpcUnavailable(f"{label}: every RPC URL failed ({'; '.join(errors)})")

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            self.make_request(RPCEndpoint("web3_clientVersion"), [])
            return True
        except RpcUnavailable:
            if show_traceback:
                raise
            return False

    def _send(self, index: int, method: str, params: Any) -> RPCResponse:
        try:
            response = self._providers[index].make_request(RPCEndpoint(method), params)
        except _TRANSPORT_ERRORS as exc:
            # Only the type: the exception's text may hold the URL or the whole body.
            raise _UrlFailed(type(exc).__name__) from None
        if not isinstance(response, dict) or ("result" not in response and "error" not in response):
            raise _UrlFailed("not JSON-RPC")
        return response

    def _send_batch(self, index: int, chunk: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
        if len(chunk) > 1 and index not in self._no_batches:
            try:
                answers = self._providers[index].make_batch_request(chunk)
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                if not 400 <= status < 500 or status == 429:  # down, or rate limited: unhealthy
                    raise _UrlFailed(type(exc).__name__) from None
                answers = None  # the batch itself refused (too large, not taken)
            except _TRANSPORT_ERRORS as exc:
                raise _UrlFailed(type(exc).__name__) from None
            except Exception:  # answers web3 cannot match to their requests
                answers = None
            if (
                isinstance(answers, list)
                and len(answers) == len(chunk)
                and all(isinstance(a, dict) and ("result" in a or "error" in a) for a in answers)
            ):
                return answers
            with self._lock:
                self._no_batches.add(index)
            log.warning(f"RPC URL {redact_url(self.urls[index])} does not answer batches: one request at a time")
        return [self._send(index, method, params) for method, params in chunk]

    def _served_chain_id(self, index: int) -> int:
        with self._lock:
            self.request_counts["eth_chainId"] += 1
        response = self._send(index, "eth_chainId", [])
        if "error" in response:
            raise _UrlFailed("eth_chainId refused")
        try:
            return int(response["result"], 16)
        except (TypeError, ValueError):
            raise _UrlFailed("eth_chainId not a number") from None

    def _settle(self, index: int, served: int) -> None:
        """Marks a URL verified, or disables it (once, with a warning) when it serves another chain."""
        with self._lock:
            if served == self.chain_id:
                self._verified[index] = True
                return
            if index in self._disabled:
                return
            self._disabled[index] = served
        url = redact_url(self.urls[index])
        log.warning(
            f"RPC URL {url} serves chain {served}, not the configured chain {self.chain_id}: disabled",
            rpc_url=url,
            served_chain_id=served,
            chain_id=self.chain_id,
        )


def connect(rpc_urls: list[str], timeout_s: float = 10.0, chain_id: int | None = None) -> Web3:
    """A Web3 over the given URLs, in order of preference. With `chain_id`, every URL is
    checked to serve that chain (see `FallbackHTTPProvider.check_chain_ids`)."""
    provider = FallbackHTTPProvider(rpc_urls, timeout_s, chain_id)
    provider.check_chain_ids()
    w3 = Web3(provider)
    # web3's validation middleware asks eth_chainId before every eth_call: one extra request
    # per read. The provider checks the chain id once per URL instead, and the engine signs
    # every transaction with the configured chain id (EIP-155).
    w3.middleware_onion.remove("validation")
    return w3


def batch_request(w3: Web3, requests: Sequence[tuple[str, Any]]) -> list[RPCResponse]:
    """Raw JSON-RPC requests answered in order, in as few HTTP requests as the provider takes
    (`FallbackHTTPProvider.make_batch_request`); one by one on any other provider."""
    batch = [(RPCEndpoint(method), params) for method, params in requests]
    provider = w3.provider
    if isinstance(provider, FallbackHTTPProvider):
        return provider.make_batch_request(batch)
    return [provider.make_request(method, params) for method, params in batch]


def request_counts(w3: Web3) -> Counter[str]:
    provider = w3.provider
    if not isinstance(provider, FallbackHTTPProvider):
        raise TypeError("request counting needs a Web3 made by floor.chain.rpc.connect")
    return provider.request_counts


def block_transactions(w3: Web3, number: int) -> list[TxData]:
    """The block's transactions in full (web3 types them as full or as hashes, by the flag)."""
    block = w3.eth.get_block(number, full_transactions=True)
    return [tx for tx in block["transactions"] if isinstance(tx, Mapping)]


def logs_between(
    w3: Web3, query: FilterParams, from_block: int, to_block: int, window: int = LOG_WINDOW_BLOCKS
) -> list[LogReceipt]:
    """The logs `query` (its address and topics) names in [from_block, to_block], oldest first,
    read `window` blocks at a time."""
    if window < 1:
        raise ValueError(f"a log window is at least one block, not {window}")
    found: list[LogReceipt] = []
    for start in range(from_block, to_block + 1, window):
        found += w3.eth.get_logs({**query, "fromBlock": start, "toBlock": min(start + window - 1, to_block)})
    return found
