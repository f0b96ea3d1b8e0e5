"""Sign-In with Ethereum (EIP-4361) and the sessions it opens.

A nonce is issued by this process (`Nonces`), good for NONCE_TTL_S and once. A login is the
SIWE message naming this API's domain and that nonce, and the address's signature of it; it
opens a session: a token `<payload>.<hmac>` naming the address and its expiry, HMAC-SHA256 with
the session secret (api.session_secret, else a fresh one per process). The session names
who, not what they may do: each read looks the address up in the engine's role book, so a
revoked role stops reading within a cache period.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address

from api.errors import ApiError

with warnings.catch_warnings():  # siwe's ABNF grammar warns on import about a core rule it redefines
    warnings.simplefilter("ignore")
    import siwe

NONCE_TTL_S = 300
MAX_NONCES = 10_000  # outstanding nonces; the oldest go first
MAX_MESSAGE_CHARS = 4000


class Nonces:
    def __init__(self) -> None:
        self.issued: OrderedDict[str, float] = OrderedDict()  # nonce -> expiry

    def issue(self, now: float) -> str:
        self.drop_expired(now)
        nonce = str(siwe.generate_nonce())
        self.issued[nonce] = now + NONCE_TTL_S
        while len(self.issued) > MAX_NONCES:
            self.issued.popitem(last=False)
        return nonce

    def take(self, nonce: str, now: float) -> bool:
        """True once for a nonce issued here and not expired."""
        expiry = self.issued.pop(nonce, None)
        return expiry is not None and expiry >= now

    def drop_expired(self, now: float) -> None:
        while self.issued and next(iter(self.issued.values())) < now:
            self.issued.popitem(last=False)


def siwe_address(message: str, signature: str, domain: str, nonces: Nonces, now: float) -> str:
    """The checksummed address that signed `message`, a SIWE message for `domain` with a nonce
    this process issued; ApiError 401 naming what failed."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise ApiError(401, "login_failed", f"the message is over {MAX_MESSAGE_CHARS} characters")
    try:
        parsed = siwe.SiweMessage.from_message(message=message)
    except Exception as exc:  # the parser's errors are of many types
        raise ApiError(401, "login_failed", f"not a Sign-In with Ethereum message: {exc}") from None
    if parsed.domain != domain:
        raise ApiError(401, "login_failed", f"the message is for domain {parsed.domain!r}, this API is {domain!r}")
    if not nonces.take(parsed.nonce, now):
        raise ApiError(401, "login_failed", "unknown or expired nonce: ask GET /auth/nonce for a new one")
    try:
        parsed.verify(signature, domain=domain, nonce=parsed.nonce, timestamp=datetime.fromtimestamp(now, UTC))
    except siwe.VerificationError as exc:
        raise ApiError(401, "login_failed", f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:  # a signature that is not hex, or not 65 bytes
        raise ApiError(401, "login_failed", f"bad signature: {exc}") from None
    return to_checksum_address(parsed.address)


@dataclass(frozen=True)
class Session:
    address: str
    expires_at: int
    id: str


class Sessions:
    def __init__(self, secret: bytes | None, ttl_s: int) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.ttl_s = ttl_s

    def open(self, address: str, now: float) -> tuple[str, Session]:
        session = Session(address=address, expires_at=int(now) + self.ttl_s, id=secrets.token_hex(8))
        payload = json.dumps({"a": session.address, "e": session.expires_at, "s": session.id}, separators=(",", ":"))
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{body}.{self.mac(body)}", session

    def read(self, token: str, now: float) -> Session | None:
        """The session a token names, if this API signed it and it has not expired."""
        body, dot, mac = token.partition(".")
        if not dot or len(token) > 400 or not hmac.compare_digest(mac, self.mac(body)):
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(address=str(fields["a"]), expires_at=int(fields["e"]), id=str(fields["s"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > now else None

    def mac(self, body: str) -> str:
        return hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()
