"""A local stand-in of a Beacon node's REST API over an anvil chain, for the demo and tests.

    python -m floor.devnet.beacon --anvil http://127.0.0.1:8545 --port 5052 [--apr 0.03]

It learns validators from the deposit contract's `DepositEvent` logs on the chain and their
exits from EIP-7002's predeploy logs (the 76-byte records: source ++ pubkey ++ amount), and
answers the standard endpoints with the real response shapes (beacon-APIs):
  GET  /eth/v1/beacon/genesis
  GET  /eth/v1/beacon/states/{state_id}/validators/{validator_id}   (index or 0x pubkey)
  GET  /eth/v1/beacon/states/{state_id}/validators?id=a,b&status=..  (ids comma-separated or repeated)
  POST /eth/v1/beacon/states/{state_id}/validators  {"ids": [...], "statuses": [...]}
  GET  /eth/v1/node/health
state_id: head, finalized, justified, genesis, or a slot. The consensus clock is the chain's:
a state's time is the latest block's timestamp (head) and epochs count from the genesis time
(the chain's first block, or --genesis-time), so `evm_increaseTime` moves both.

The consensus rules it follows, with their mainnet constants: a deposit's validator is
pending_initialized for one epoch, pending_queued until activation (eligibility + 1 +
MAX_SEED_LOOKAHEAD = deposit epoch + 6), then active_ongoing; its balance (gwei) grows from
activation at the configured APR, simple interest, rounded down; the effective balance is the
balance in whole ETH, capped at 32 ETH (0x01) or 2048 ETH (0x02). A full-exit request (amount
0) whose source is the validator's withdrawal address, on an active validator with no exit
yet, sets exit_epoch = request epoch + 1 + MAX_SEED_LOOKAHEAD and withdrawable_epoch =
exit_epoch + 256 (MIN_VALIDATOR_WITHDRAWABILITY_DELAY): active_exiting, then exited_unslashed
with the balance frozen, then withdrawal_possible. Left out: BLS signature checks, the
churn limits of the activation and exit queues, penalties and slashing, partial withdrawal
requests, reward sweeps and the payout of exits to the execution layer (no ETH moves: the
status stays withdrawal_possible), and states by root.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from eth_abi.abi import decode
from eth_utils.crypto import keccak

from floor.protocols.native_eth.config import MAINNET_DEPOSIT_CONTRACT, WITHDRAWAL_REQUEST_PREDEPLOY
from floor.protocols.native_eth.validators import EPOCH_S, FAR_FUTURE_EPOCH, SECONDS_PER_SLOT

DEPOSIT_EVENT = "0x" + keccak(text="DepositEvent(bytes,bytes,bytes,bytes,bytes)").hex()
MAX_SEED_LOOKAHEAD = 4
WITHDRAWABILITY_DELAY = 256
YEAR_S = 365 * 24 * 3600
ETH_GWEI = 10**9
MIN_ACTIVATION_GWEI = 32 * ETH_GWEI
MAX_EFFECTIVE_GWEI = {1: 32 * ETH_GWEI, 2: 2048 * ETH_GWEI}
PPM = 10**6


@dataclass
class Tracked:
    index: int
    pubkey: bytes
    credentials: bytes
    deposits: list[tuple[int, int]] = field(default_factory=list)  # (timestamp, gwei)
    exit_request_epoch: int | None = None

    def deposited(self, t: int) -> int:
        return sum(g for ts, g in self.deposits if ts <= t)


class Chain:
    """What the stand-in reads from anvil (JSON-RPC over requests)."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self._timestamps: dict[str, int] = {}  # block hash -> timestamp (hashes survive reverts)

    def rpc(self, method: str, params: list[Any]) -> Any:
        body = self.session.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10
        ).json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def block_time(self, block: str | dict[str, Any]) -> int:
        header: dict[str, Any] = self.rpc("eth_getBlockByNumber", [block, False]) if isinstance(block, str) else block
        self._timestamps[header["hash"]] = int(header["timestamp"], 16)
        return self._timestamps[header["hash"]]

    def log_time(self, log: dict[str, Any]) -> int:
        found = self._timestamps.get(log["blockHash"])
        if found is None:
            found = self.block_time(self.rpc("eth_getBlockByHash", [log["blockHash"], False]))
        return found

    def logs(self, address: str, topics: list[Any] | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"address": address, "fromBlock": "0x0", "toBlock": "latest"}
        if topics is not None:
            query["topics"] = topics
        logs: list[dict[str, Any]] = self.rpc("eth_getLogs", [query])
        return logs


class BeaconStandIn:
    def __init__(
        self,
        chain: Chain,
        apr: float = 0.03,
        deposit_contract: str = MAINNET_DEPOSIT_CONTRACT,
        withdrawal_request: str = WITHDRAWAL_REQUEST_PREDEPLOY,
        genesis_time: int | None = None,
        fork_version: bytes = bytes(4),
    ):
        self.chain = chain
        self.apr_ppm = round(apr * PPM)
        self.deposit_contract = deposit_contract
        self.withdrawal_request = withdrawal_request
        self.genesis_time = genesis_time if genesis_time is not None else chain.block_time("0x0")
        self.fork_version = fork_version

    # -- the consensus layer's view at time t -------------------------------------------
    def epoch(self, t: int) -> int:
        return max(0, t - self.genesis_time) // EPOCH_S

    def epoch_start(self, epoch: int) -> int:
        return self.genesis_time + epoch * EPOCH_S

    def head_time(self) -> int:
        return self.chain.block_time("latest")

    def tracked(self, t: int) -> list[Tracked]:
        found: dict[bytes, Tracked] = {}
        for log in self.chain.logs(self.deposit_contract, [DEPOSIT_EVENT]):
            ts = self.chain.log_time(log)
            if ts > t:
                continue
            pubkey, wc, amount, _sig, _index = decode(["bytes"] * 5, bytes.fromhex(log["data"][2:]))
            v = found.get(pubkey)
            if v is None:
                v = found[pubkey] = Tracked(len(found), pubkey, wc)
            v.deposits.append((ts, int.from_bytes(amount, "little")))
        for log in self.chain.logs(self.withdrawal_request):
            ts = self.chain.log_time(log)
            record = bytes.fromhex(log["data"][2:])
            if ts > t or len(record) != 76 or log["topics"]:
                continue
            source, pubkey, amount = record[:20], record[20:68], int.from_bytes(record[68:], "big")
            v = found.get(pubkey)
            if v is None or amount != 0 or v.exit_request_epoch is not None:
                continue  # unknown, a partial withdrawal (left out), or already exiting
            if v.credentials[:1] not in (b"\x01", b"\x02") or v.credentials[12:] != source:
                continue  # only the validator's withdrawal address may exit it
            if self.status(v, self.epoch(ts)) != "active_ongoing":
                continue
            v.exit_request_epoch = self.epoch(ts)
        return list(found.values())

    def epochs(self, v: Tracked) -> dict[str, int]:
        first = self.epoch(v.deposits[0][0])
        complete = next((ts for ts, _ in _running(v.deposits) if v.deposited(ts) >= MIN_ACTIVATION_GWEI), None)
        eligibility = self.epoch(complete) + 1 if complete is not None else FAR_FUTURE_EPOCH
        activation = eligibility + 1 + MAX_SEED_LOOKAHEAD if complete is not None else FAR_FUTURE_EPOCH
        exit_epoch = withdrawable = FAR_FUTURE_EPOCH
        if v.exit_request_epoch is not None:
            exit_epoch = v.exit_request_epoch + 1 + MAX_SEED_LOOKAHEAD
            withdrawable = exit_epoch + WITHDRAWABILITY_DELAY
        return {
            "deposit": first,
            "activation_eligibility_epoch": eligibility,
            "activation_epoch": activation,
            "exit_epoch": exit_epoch,
            "withdrawable_epoch": withdrawable,
        }

    def status(self, v: Tracked, epoch: int) -> str:
        e = self.epochs(v)
        if epoch < e["activation_eligibility_epoch"]:
            return "pending_initialized"
        if epoch < e["activation_epoch"]:
            return "pending_queued"
        if epoch < e["exit_epoch"]:
            return "active_exiting" if e["exit_epoch"] != FAR_FUTURE_EPOCH else "active_ongoing"
        if epoch < e["withdrawable_epoch"]:
            return "exited_unslashed"
        return "withdrawal_possible"

    def balance(self, v: Tracked, t: int) -> int:
        """Gwei: what was deposited, plus simple interest at the APR while active."""
        e = self.epochs(v)
        principal = v.deposited(t)
        if e["activation_epoch"] == FAR_FUTURE_EPOCH:
            return principal
        start = self.epoch_start(e["activation_epoch"])
        end = min(t, self.epoch_start(e["exit_epoch"])) if e["exit_epoch"] != FAR_FUTURE_EPOCH else t
        earning = max(0, end - start)
        return principal + principal * self.apr_ppm * earning // (PPM * YEAR_S)

    def describe(self, v: Tracked, t: int) -> dict[str, Any]:
        e = self.epochs(v)
        balance = self.balance(v, t)
        cap = MAX_EFFECTIVE_GWEI.get(v.credentials[0], 32 * ETH_GWEI)
        effective = min(balance - balance % ETH_GWEI, cap)
        return {
            "index": str(v.index),
            "balance": str(balance),
            "status": self.status(v, self.epoch(t)),
            "validator": {
                "pubkey": "0x" + v.pubkey.hex(),
                "withdrawal_credentials": "0x" + v.credentials.hex(),
                "effective_balance": str(effective),
                "slashed": False,
                "activation_eligibility_epoch": str(e["activation_eligibility_epoch"]),
                "activation_epoch": str(e["activation_epoch"]),
                "exit_epoch": str(e["exit_epoch"]),
                "withdrawable_epoch": str(e["withdrawable_epoch"]),
            },
        }

    # -- the API ----------------------------------------------------------------------
    def state_time(self, state_id: str) -> int | None:
        head = self.head_time()
        if state_id in ("head", "finalized", "justified"):
            return head
        if state_id == "genesis":
            return self.genesis_time
        if state_id.isdigit():
            t = self.genesis_time + int(state_id) * SECONDS_PER_SLOT
            return t if t <= head else None
        raise ValueError(f"Invalid state ID: {state_id}")

    def validators(self, state_id: str, ids: list[str], statuses: list[str]) -> tuple[int, dict[str, Any]]:
        try:
            t = self.state_time(state_id)
        except ValueError as exc:
            return 400, {"code": 400, "message": str(exc)}
        if t is None:
            return 404, {"code": 404, "message": "State not found"}
        out = []
        for v in self.tracked(t):
            item = self.describe(v, t)
            if ids and not any(_matches(v, i) for i in ids):
                continue
            if statuses and item["status"] not in statuses and _general(item["status"]) not in statuses:
                continue
            out.append(item)
        return 200, {"execution_optimistic": False, "finalized": state_id in ("finalized", "genesis"), "data": out}

    def validator(self, state_id: str, validator_id: str) -> tuple[int, dict[str, Any]]:
        code, body = self.validators(state_id, [validator_id], [])
        if code != 200:
            return code, body
        if not body["data"]:
            return 404, {"code": 404, "message": "Validator not found"}
        return 200, {**body, "data": body["data"][0]}

    def genesis(self) -> dict[str, Any]:
        return {
            "data": {
                "genesis_time": str(self.genesis_time),
                "genesis_validators_root": "0x" + bytes(32).hex(),
                "genesis_fork_version": "0x" + self.fork_version.hex(),
            }
        }


def _running(deposits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return sorted(deposits)


def _matches(v: Tracked, validator_id: str) -> bool:
    if validator_id.startswith("0x"):
        return validator_id.lower() == "0x" + v.pubkey.hex()
    return validator_id.isdigit() and int(validator_id) == v.index


def _general(status: str) -> str:
    return status.split("_")[0] if status != "withdrawal_possible" else "withdrawal"


def handler_for(beacon: BeaconStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _route(self, ids: list[str], statuses: list[str]) -> None:
            parts = urlparse(self.path).path.strip("/").split("/")
            try:
                if parts == ["eth", "v1", "node", "health"]:
                    return self._send(200, {})
                if parts == ["eth", "v1", "beacon", "genesis"]:
                    return self._send(200, beacon.genesis())
                if parts[:4] == ["eth", "v1", "beacon", "states"] and len(parts) >= 6 and parts[5] == "validators":
                    if len(parts) == 6:
                        return self._send(*beacon.validators(parts[4], ids, statuses))
                    if len(parts) == 7:
                        return self._send(*beacon.validator(parts[4], parts[6]))
                return self._send(404, {"code": 404, "message": "Not found"})
            except Exception as exc:  # the chain did not answer: the node's 500
                return self._send(500, {"code": 500, "message": f"Internal error: {exc}"})

        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)

            def split(key: str) -> list[str]:
                return [x for v in query.get(key, []) for x in v.split(",") if x]

            self._route(split("id"), split("status"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._send(400, {"code": 400, "message": "Invalid JSON"})
            self._route([str(i) for i in body.get("ids") or []], list(body.get("statuses") or []))

    return Handler


def serve(beacon: BeaconStandIn, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server (not yet serving: call serve_forever, e.g. in a thread)."""
    return ThreadingHTTPServer((host, port), handler_for(beacon))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--anvil", required=True, help="the chain's JSON-RPC URL")
    parser.add_argument("--port", type=int, default=5052)
    parser.add_argument("--apr", type=float, default=0.03, help="the validators' yearly reward rate (0.03 = 3%%)")
    parser.add_argument("--deposit-contract", default=MAINNET_DEPOSIT_CONTRACT)
    parser.add_argument("--withdrawal-request", default=WITHDRAWAL_REQUEST_PREDEPLOY)
    parser.add_argument("--genesis-time", type=int, default=None, help="default: the chain's first block")
    parser.add_argument("--fork-version", default="00000000", help="genesis fork version (mainnet 00000000)")
    args = parser.parse_args(argv)
    beacon = BeaconStandIn(
        Chain(args.anvil),
        apr=args.apr,
        deposit_contract=args.deposit_contract,
        withdrawal_request=args.withdrawal_request,
        genesis_time=args.genesis_time,
        fork_version=bytes.fromhex(args.fork_version.removeprefix("0x")),
    )
    server = serve(beacon, args.port)
    print(f"beacon API stand-in on http://127.0.0.1:{args.port} over {args.anvil}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
