"""A local Flashbots-style relay on loopback, backed by an anvil chain: for tests and the demo.

It speaks the subset of the relay API that `floor.chain.flashbots.FlashbotsClient` uses:

- Every request must carry a valid `X-Flashbots-Signature: <address>:<signature>` (EIP-191
  signature of the text `0x<keccak256(body)>`); otherwise HTTP 403 with JSON-RPC error
  -32600 "error in signature check ...", as the real relay answers.
- `eth_callBundle`: snapshot, automine off, `eth_sendRawTransaction` each transaction in
  order, `evm_mine`, read the receipts, revert the snapshot. Per transaction `gasUsed`,
  `gasPrice`, `error: "execution reverted"` when its status is 0.
- `eth_sendBundle` / `eth_sendPrivateTransaction`: unless declined, the transactions are
  sent in order with automine off and mined in one block (all or nothing: a transaction the
  node refuses, or one that reverts without being in `revertingTxHashes`, rolls the block
  back and the bundle is not included). `included` records (bundle hash, block number,
  transaction hashes in block order).
- `decline_next(n)`: the next n distinct bundles / private transactions are accepted (a hash
  is returned) but never included, as when the relay's builder does not win the block;
  later submissions of the same bundle (other target blocks) are declined too.

Left out, compared with relay.flashbots.net:
- No auction, no builders, no block timing: a bundle is included at once, in the next block,
  whenever its target block (a private transaction's `maxBlockNumber`) is not yet past - a
  bundle for a later block is not held until then. A target already past is accepted and
  never included. A bundle already included is not included again.
- `stateBlockNumber` and `blockNumber` of `eth_callBundle` are not honoured: the simulation
  runs on the latest state as the next block. `timestamp`, `coinbase`, `minTimestamp`,
  `maxTimestamp`, `replacementUuid`, `builders`, `preferences` are ignored; so are
  `coinbaseDiff`/`ethSentToCoinbase` (always 0) and the 100-transaction / 300 kB limits.
- No `eth_cancelBundle`, `eth_cancelPrivateTransaction`, `flashbots_getBundleStats*`,
  `mev_sendBundle`; no rate limits, no reputation scores.
- Order across senders: anvil's miner orders pending transactions by fee unless started with
  `--order fifo`; within one sender the nonces fix the order. The block's order is what
  `included` records. Pending public transactions on the node at that moment are mined into
  the same block.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from eth_utils.crypto import keccak

from floor.chain.flashbots import SIGNATURE_HEADER, InvalidSignatureHeader, bundle_hash, recover_signature_header
from floor.logging import get_logger

log = get_logger()


class _RpcError(Exception):
    def __init__(self, message: str, code: int = -32000, status: int = 200):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Inclusion:
    bundle_hash: str
    block_number: int
    tx_hashes: list[str]


class LocalRelay:
    def __init__(self, anvil_url: str, port: int | None = None):
        self.anvil_url = anvil_url
        self._server = ThreadingHTTPServer(("127.0.0.1", port or 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._chain_lock = threading.Lock()  # automine and snapshots are node-wide
        self._state_lock = threading.Lock()
        self._decline = 0
        self._declined: set[str] = set()
        self.included: list[Inclusion] = []
        self.requests: list[tuple[str, str]] = []  # (method, signer address) of every signed request

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalRelay:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> LocalRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def decline_next(self, n: int = 1) -> None:
        """Accept but never include the next `n` distinct bundles or private transactions."""
        with self._state_lock:
            self._decline += n

    @contextmanager
    def still(self) -> Iterator[None]:
        """Hold the chain still for a reader: a simulation in flight (snapshot, mine, revert)
        ends first and none starts meanwhile, so a block the reader sees is not rolled back."""
        with self._chain_lock:
            yield

    # ------------------------------------------------------------ anvil

    def _anvil(self, method: str, params: list[Any]) -> Any:
        answer = requests.post(
            self.anvil_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10
        ).json()
        if "error" in answer:
            raise _RpcError(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def _head(self) -> int:
        return int(self._anvil("eth_blockNumber", []), 16)

    @contextmanager
    def _one_block(self, raw_txs: list[str], keep: bool) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """Mine `raw_txs` in one block; yields (block number, receipts in bundle order). Rolled
        back when the body raises or `keep` is False."""
        with self._chain_lock:
            snapshot = self._anvil("evm_snapshot", [])
            automine = self._anvil("anvil_getAutomine", [])
            self._anvil("evm_setAutomine", [False])
            kept = False
            try:
                hashes = [self._anvil("eth_sendRawTransaction", [tx]) for tx in raw_txs]
                self._anvil("evm_mine", [])
                receipts = [self._anvil("eth_getTransactionReceipt", [h]) for h in hashes]
                if any(r is None for r in receipts):
                    raise _RpcError("bundle did not fit in one block")
                yield int(receipts[0]["blockNumber"], 16), receipts
                kept = keep
            finally:
                if not kept:
                    self._anvil("anvil_dropAllTransactions", [])
                    self._anvil("evm_revert", [snapshot])
                self._anvil("evm_setAutomine", [automine])

    # ------------------------------------------------------------ methods

    def handle(self, method: str, params: list[Any]) -> Any:
        if not params or not isinstance(params[0], dict):
            raise _RpcError(f"{method}: expected one object parameter", code=-32602)
        arg = params[0]
        if method == "eth_callBundle":
            return self._call_bundle(list(arg.get("txs") or []))
        if method == "eth_sendBundle":
            target = int(arg["blockNumber"], 16)
            return {"bundleHash": self._submit(list(arg.get("txs") or []), target, arg.get("revertingTxHashes") or [])}
        if method == "eth_sendPrivateTransaction":
            tx = arg["tx"]
            max_block = int(arg["maxBlockNumber"], 16) if arg.get("maxBlockNumber") else self._head() + 25
            self._submit([tx], max_block, [])
            return "0x" + keccak(bytes.fromhex(tx.removeprefix("0x"))).hex()
        raise _RpcError(f"the method {method} does not exist/is not available", code=-32601)

    def _call_bundle(self, txs: list[str]) -> dict[str, Any]:
        if not txs:
            raise _RpcError("bundle missing txs")
        with self._one_block(txs, keep=False) as (block, receipts):
            results = []
            for receipt in receipts:
                gas_used = int(receipt["gasUsed"], 16)
                price = int(receipt["effectiveGasPrice"], 16)
                result: dict[str, Any] = {
                    "txHash": receipt["transactionHash"],
                    "fromAddress": receipt["from"],
                    "toAddress": receipt["to"],
                    "gasUsed": gas_used,
                    "gasPrice": str(price),
                    "gasFees": str(gas_used * price),
                    "coinbaseDiff": "0",
                    "ethSentToCoinbase": "0",
                }
                if int(receipt["status"], 16) == 0:
                    result["error"] = "execution reverted"
                else:
                    result["value"] = "0x"
                results.append(result)
        total = sum(r["gasUsed"] for r in results)
        fees = sum(int(r["gasFees"]) for r in results)
        return {
            "bundleHash": bundle_hash(txs),
            "results": results,
            "totalGasUsed": total,
            "gasFees": str(fees),
            "bundleGasPrice": str(fees // total if total else 0),
            "coinbaseDiff": "0",
            "ethSentToCoinbase": "0",
            "stateBlockNumber": block - 1,
        }

    def _submit(self, txs: list[str], last_block: int, reverting: list[str]) -> str:
        if not txs:
            raise _RpcError("bundle missing txs")
        hash_ = bundle_hash(txs)
        with self._state_lock:
            if hash_ not in self._declined and self._decline > 0:
                self._decline -= 1
                self._declined.add(hash_)
            declined = hash_ in self._declined
            done = any(i.bundle_hash == hash_ for i in self.included)
        if declined or done or last_block <= self._head():
            return hash_
        allowed = {h.lower() for h in reverting}
        try:
            with self._one_block(txs, keep=True) as (block, receipts):
                failed = [
                    r["transactionHash"]
                    for r in receipts
                    if int(r["status"], 16) == 0 and r["transactionHash"].lower() not in allowed
                ]
                if failed:
                    raise _RpcError(f"reverts: {failed[0]}")
                in_block = sorted(receipts, key=lambda r: int(r["transactionIndex"], 16))
                inclusion = Inclusion(hash_, block, [r["transactionHash"] for r in in_block])
        except _RpcError as exc:  # as a builder would: the bundle is dropped, not answered with an error
            log.info("local relay: bundle not included", bundle=hash_, reason=exc.message)
            return hash_
        with self._state_lock:
            self.included.append(inclusion)
            log.info("local relay: bundle included", bundle=hash_, block=inclusion.block_number)
        return hash_


def _handler_for(relay: LocalRelay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request_id: Any = None
            try:
                try:
                    signer = recover_signature_header(self.headers.get(SIGNATURE_HEADER), body)
                except InvalidSignatureHeader as exc:
                    raise _RpcError(str(exc), code=-32600, status=403) from None
                try:
                    request = json.loads(body)
                    request_id = request.get("id")
                    method, params = request["method"], request.get("params") or []
                except (ValueError, KeyError, AttributeError):
                    raise _RpcError("invalid JSON-RPC request", code=-32700, status=400) from None
                relay.requests.append((method, signer))
                answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": relay.handle(method, params)}
                status = 200
            except _RpcError as exc:
                answer = {"jsonrpc": "2.0", "id": request_id, "error": {"code": exc.code, "message": exc.message}}
                status = exc.status
            except Exception as exc:  # a bug here must answer, not hang the client
                answer = {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32603, "message": repr(exc)}}
                status = 500
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    """`python -m floor.devnet.relay --anvil URL --port N`: the demo's relay, until SIGTERM."""
    import argparse
    import signal

    from floor.logging import configure_logging

    parser = argparse.ArgumentParser(prog="floor-local-relay", description=main.__doc__)
    parser.add_argument("--anvil", required=True, help="the anvil chain's JSON-RPC URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tick", type=float, default=None, help="also mine a block every TICK seconds")
    args = parser.parse_args()
    configure_logging("INFO")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with LocalRelay(args.anvil, args.port) as relay:
        log.info("local relay serving", url=relay.url, anvil=args.anvil)
        if args.tick:  # under the relay's chain lock: never inside a bundle's block
            from floor.devnet.ticker import start_ticking

            ticking = start_ticking(args.anvil, args.tick, relay._chain_lock)
        stop.wait()
        if args.tick:
            ticking.set()


if __name__ == "__main__":
    main()
