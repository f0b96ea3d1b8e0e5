"""A JSON-RPC fault proxy: forwards to an upstream node and misbehaves on demand (the faulty
providers of the integration tests, the soak's RPC faults).

    with RpcProxy(stack.chains[1].rpc_url) as proxy:
        url = proxy.url(f"/v3/{key}?apikey={key}")  # any path is forwarded, like a provider's
        proxy.misbehave("html")                      # the next request gets an HTML page, status 200
        proxy.misbehave("bad_gateway", times=None)   # every request gets status 502 until reset()
        proxy.misbehave("wrong_chain", chain_id=5)   # the next eth_chainId answers 5
        proxy.reset()                                # forwards faithfully again
        proxy.methods["eth_call"], proxy.requests    # what it was asked

Faults:
- "html": an HTML error page with status 200 (a misconfigured load balancer or CDN);
- "bad_gateway": status 502;
- "not_json_rpc": a JSON body that is not a JSON-RPC response;
- "wrong_chain": `eth_chainId` answers `chain_id`; other methods pass through untouched;
- "lost_answer": the request reaches the node, then the caller gets status 502 (the node
  accepted a transaction, the answer was lost on the way back);
- "slow": the request is forwarded after `delay_s` seconds (a congested provider);
- "no_batches": a JSON-RPC batch is answered with one JSON-RPC error (with `status`, 200 unless
  given), as by a provider that does not take batches; single requests pass through.

`method=` limits a fault to requests of that method (e.g. "eth_sendRawTransaction"); a batch
meets it when any of its requests is of that method. `methods` counts a batch's requests one by
one, `batches` the batches.

Faults queue in the order given; each request meets the first one that applies to it, which
then counts down (`times=None`: until `reset()`). So `misbehave("bad_gateway")` then
`misbehave("wrong_chain", chain_id=5, times=None)` is a URL that is down at the first request
and then turns out to serve chain 5.

It listens on a free port of 127.0.0.1, one thread per request.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Fault = Literal["html", "bad_gateway", "not_json_rpc", "wrong_chain", "lost_answer", "slow", "no_batches"]

_NO_BATCHES = (
    b'{"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "batch requests are not supported"}}'
)
_HTML = b"<html><head><title>Error</title></head><body><h1>Service temporarily unavailable</h1></body></html>"


@dataclass
class _Pending:
    fault: Fault
    times: int | None
    chain_id: int | None
    method: str | None = None
    delay_s: float = 0.0
    status: int = 200


class RpcProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests = 0
        self.batches = 0
        self.methods: Counter[str] = Counter()
        self._faults: list[_Pending] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RpcProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def url(self, path: str = "") -> str:
        """The proxy's URL, with `path` (e.g. "/v3/KEY?apikey=KEY") appended; any path works."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def misbehave(
        self,
        fault: Fault,
        times: int | None = 1,
        chain_id: int | None = None,
        method: str | None = None,
        delay_s: float = 0.0,
        status: int = 200,
    ) -> None:
        """Answer the next `times` requests the fault applies to with `fault` (None: until reset)."""
        if (fault == "wrong_chain") != (chain_id is not None):
            raise ValueError("chain_id goes with the 'wrong_chain' fault, and only with it")
        if fault == "wrong_chain":
            method = "eth_chainId"
        with self._lock:
            self._faults.append(_Pending(fault, times, chain_id, method, delay_s, status))

    def reset(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, methods: list[str | None], batch: bool) -> _Pending | None:
        with self._lock:
            self.requests += 1
            self.batches += batch
            self.methods.update(m or "?" for m in methods)
            for pending in self._faults:
                if pending.fault == "no_batches" and not batch:
                    continue
                if pending.method is None or pending.method in methods:
                    if pending.times is not None:
                        pending.times -= 1
                        if pending.times == 0:
                            self._faults.remove(pending)
                    return pending
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    request = json.loads(body)
                except ValueError:
                    request = None
                batch = isinstance(request, list)
                calls = request if batch else [request]
                methods = [c.get("method") if isinstance(c, dict) else None for c in calls]
                pending = proxy._take_fault(methods, batch)
                if pending is None:
                    self._forward(body)
                elif pending.fault == "slow":
                    time.sleep(pending.delay_s)
                    self._forward(body)
                elif pending.fault == "html":
                    self._reply(200, _HTML, "text/html")
                elif pending.fault == "bad_gateway":
                    self._reply(502, _HTML, "text/html")
                elif pending.fault == "lost_answer":
                    self._forward(body, reply=False)
                    self._reply(502, _HTML, "text/html")
                elif pending.fault == "not_json_rpc":
                    self._reply(200, b'{"status": "ok", "message": "rate limited"}', "application/json")
                elif pending.fault == "no_batches":
                    self._reply(pending.status, _NO_BATCHES, "application/json")
                else:
                    answer = {
                        "jsonrpc": "2.0",
                        "id": request.get("id") if isinstance(request, dict) else None,
                        "result": hex(pending.chain_id or 0),
                    }
                    self._reply(200, json.dumps(answer).encode(), "application/json")

            def _forward(self, body: bytes, reply: bool = True) -> None:
                upstream = urllib.request.Request(  # noqa: S310 (the node's http URL the caller gave)
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(upstream, timeout=30) as response:  # noqa: S310 (as above)
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                if reply:
                    self._reply(status, payload, "application/json")

            def _reply(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the caller's own output is what matters

        return Handler
