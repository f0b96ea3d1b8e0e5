"""RPC access: one Web3 per chain, with timeouts and fallback URLs, counting its requests."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import requests
from web3 import Web3
from web3.providers import HTTPProvider, JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from floor.chain.errors import RpcUnavailable

# Failures that mean "this endpoint is unhealthy", as opposed to a JSON-RPC error answer
# (a revert, a bad nonce), which is the chain's verdict and must not be retried elsewhere.
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.HTTPError)


class FallbackHTTPProvider(JSONBaseProvider):
    """Sends each request to the first healthy URL; on a transport failure moves to the next.

    The URL that answered stays preferred until it fails, so a flapping primary does not
    double every request's latency. `request_counts` counts requests by method (for tests,
    benchmarks and metrics).
    """

    def __init__(self, urls: list[str], timeout_s: float = 10.0):
        super().__init__()
        if not urls:
            raise ValueError("at least one RPC URL is needed")
        self.urls = list(urls)
        self._providers = [
            HTTPProvider(url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None)
            for url in self.urls
        ]
        self._preferred = 0
        self._lock = threading.Lock()
        self.request_counts: Counter[str] = Counter()

    @property
    def total_requests(self) -> int:
        return sum(self.request_counts.values())

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._lock:
            self.request_counts[method] += 1
            start = self._preferred
        errors: list[str] = []
        for offset in range(len(self._providers)):
            index = (start + offset) % len(self._providers)
            try:
                response = self._providers[index].make_request(method, params)
            except _TRANSPORT_ERRORS as exc:
                errors.append(f"{self.urls[index]}: {type(exc).__name__}")
                continue
            if index != start:
                with self._lock:
                    self._preferred = index
            return response
        raise RpcUnavailable(f"{method}: every RPC URL failed ({'; '.join(errors)})")

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            self.make_request(RPCEndpoint("web3_clientVersion"), [])
            return True
        except RpcUnavailable:
            if show_traceback:
                raise
            return False


def connect(rpc_urls: list[str], timeout_s: float = 10.0) -> Web3:
    """A Web3 over the given URLs, in order of preference."""
    w3 = Web3(FallbackHTTPProvider(rpc_urls, timeout_s))
    # web3's validation middleware asks eth_chainId before every eth_call: one extra request
    # per read. The engine signs every transaction with the configured chain id (EIP-155),
    # so a node of another chain rejects it anyway.
    w3.middleware_onion.remove("validation")
    return w3


def request_counts(w3: Web3) -> Counter[str]:
    provider = w3.provider
    if not isinstance(provider, FallbackHTTPProvider):
        raise TypeError("request counting needs a Web3 made by floor.chain.rpc.connect")
    return provider.request_counts
