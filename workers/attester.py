"""`floor-attester`: the deposit attester's process (`floor/chain/attester.py`). Holds the
attester key and answers `POST /attest {"chain_id": 1, "deposits": [{"pubkey",
"withdrawal_credentials", "signature", "amount_wei"}]}` with the signed deposit root and the
deposits' recomputed deposit_data_roots, when each pays the executor 32 ETH and no deposit
exists for any of the keys (409 naming the key otherwise; 400 or 422 for a bad request). Run
it apart from the worker: the operator's key alone must not be enough to stake."""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from floor.chain.attester import attest_deposits, attestation_json, deposit_of_json
from floor.chain.rpc import connect
from floor.chain.signer import signer_from_config
from floor.config import ConfigError, Settings, load_settings
from floor.errors import FloorError
from floor.logging import configure_logging, get_logger
from floor.protocols.native_eth.attestation import MAX_ATTESTED
from floor.protocols.native_eth.beacon import BeaconClient
from floor.protocols.native_eth.errors import DepositExists

MAX_BODY = 64 * 1024


class Attester:
    def __init__(self, settings: Settings):
        if settings.attester.key is None:
            raise ConfigError(
                "attester.key: the attester key is required (set FLOOR_ATTESTER__KEY__PRIVATE_KEY, or"
                " attester.key.keystore_path with FLOOR_ATTESTER__KEY__KEYSTORE_PASSWORD)"
            )
        if settings.signer is not None and settings.signer == settings.attester.key:
            raise ConfigError("attester.key is the engine's signer key: the attester must hold a key of its own")
        self.settings = settings
        self.key = signer_from_config(settings.attester.key)
        self.web3s = {}
        self.log = get_logger(process="floor-attester")

    def attest(self, chain_id: int, deposits: list) -> dict:
        chain = self.settings.chain(chain_id)
        market = next((m for m in chain.markets if m.adapter == "native_eth"), None)
        if market is None or chain.executor is None:
            raise DepositExists(f"chain {chain_id} has no native ETH market or no executor: nothing to attest")
        if chain_id not in self.web3s:
            self.web3s[chain_id] = connect(chain.rpc_urls, chain.rpc_timeout_s, chain_id)
        a = attest_deposits(
            self.web3s[chain_id],
            BeaconClient(market.beacon_url()),
            market.deposit_contract,
            chain.executor,
            chain_id,
            deposits,
            self.key,
            from_block=self.settings.attester.deposits_from_block,
            ttl_s=self.settings.attester.ttl_s,
        )
        self.log.info("deposit attested", chain_id=chain_id, validators=len(deposits), root="0x" + a.deposit_root.hex())
        return attestation_json(a)


def handler(attester: Attester) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body: dict | str) -> None:
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path != "/attest":
                return self._answer(404, "POST /attest")
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                return self._answer(400, "a JSON body of chain_id and pubkeys is required")
            try:
                asked = json.loads(self.rfile.read(length))
                chain_id = int(asked["chain_id"])
                deposits = [deposit_of_json(d) for d in asked["deposits"]]
                if not 0 < len(deposits) <= MAX_ATTESTED:
                    raise ValueError(
                        f"deposits: 1 to {MAX_ATTESTED} of pubkey, withdrawal_credentials, signature, amount_wei"
                    )
            except (ValueError, KeyError, TypeError) as exc:
                return self._answer(400, f"bad request: {exc}")
            try:
                return self._answer(200, attester.attest(chain_id, deposits))
            except DepositExists as exc:
                return self._answer(409, str(exc))
            except (FloorError, LookupError) as exc:
                return self._answer(422, f"{type(exc).__name__}: {exc}")

        def log_message(self, format: str, *args) -> None:
            attester.log.debug("request", line=format % args)

    return Handler


def serve(attester: Attester, host: str, port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), handler(attester))


def main() -> None:
    parser = argparse.ArgumentParser(prog="floor-attester", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="the TOML config (default: FLOOR_CONFIG or floor.toml)")
    args = parser.parse_args()
    try:
        settings = load_settings(args.config)
        configure_logging(settings.log_level)
        attester = Attester(settings)
    except ConfigError as exc:
        raise SystemExit(f"floor-attester: {exc}") from None
    server = serve(attester, settings.attester.host, settings.attester.port)
    attester.log.info("attester started", address=attester.key.address, port=settings.attester.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
