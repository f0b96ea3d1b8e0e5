"""A client of a Beacon node's REST API (the standard `/eth/v1/beacon/...` endpoints every
consensus client serves), for the reads native staking needs: the node's genesis (its time
and fork version, read once) and the market's validators, all of them in one request
(`GET /eth/v1/beacon/states/{state_id}/validators?id=<pubkey>,<pubkey>,...`, at most 64 ids a
request as the API allows; more are read in chunks of 64).

I/O (requests, already a dependency of web3): used by activities, never by workflows.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from floor.protocols.native_eth.errors import BeaconUnavailable
from floor.protocols.native_eth.validators import Genesis, Validator, parse_genesis, parse_validators

MAX_IDS = 64  # the API's bound on `id` values in one GET


class BeaconClient:
    def __init__(self, url: str, timeout_s: float = 5.0, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        self._genesis: Genesis | None = None
        self.requests = 0  # how many HTTP requests this client made (for tests and metrics)

    def _get(self, path: str, params: dict[str, str] | None = None) -> object | None:
        self.requests += 1
        try:
            response = self.session.get(self.url + path, params=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise BeaconUnavailable(f"beacon API {self.url}: {type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BeaconUnavailable(f"beacon API {self.url}{path}: HTTP {response.status_code}")
        try:
            body: object = response.json()
        except ValueError:
            raise BeaconUnavailable(f"beacon API {self.url}{path}: not JSON") from None
        return body

    def genesis(self) -> Genesis:
        if self._genesis is None:
            body = self._get("/eth/v1/beacon/genesis")
            if body is None:
                raise BeaconUnavailable(f"beacon API {self.url}: no genesis (is it a beacon node?)")
            self._genesis = parse_genesis(body)
        return self._genesis

    def validator(self, validator_id: str | int, state_id: str = "head") -> Validator | None:
        """One validator by index or 0x-pubkey; None if the state has no such validator."""
        body = self._get(f"/eth/v1/beacon/states/{state_id}/validators/{validator_id}")
        return None if body is None else parse_validators(body)[0]

    def validators(self, pubkeys: Sequence[bytes], state_id: str = "head") -> list[Validator]:
        """The validators among `pubkeys` the state knows (deposits not yet seen are absent)."""
        out: list[Validator] = []
        for i in range(0, len(pubkeys), MAX_IDS):
            ids = ",".join("0x" + p.hex() for p in pubkeys[i : i + MAX_IDS])
            body = self._get(f"/eth/v1/beacon/states/{state_id}/validators", {"id": ids})
            out += parse_validators(body) if body is not None else []
        return out
