"""Commands as EIP-712 typed data: the domain, one struct per command kind, the signed
command as it travels (JSON, through `temporal workflow update --input`), and the verifier
the engine's update validators will run. Pure: no I/O, no clock (`now` is passed in, whole
seconds since 1970: the workflow's time).

The domain is {name "Floor Engine", version "1", chainId, verifyingContract: the executor,
salt: keccak256(engine id)}. The engine id is the salt, not a field of every struct: telling
one engine from another (production and staging share an executor) is what a domain is for,
and EIP-712 reserves `salt` for exactly that; no struct can forget it. The JSON carries the
domain it claims in plain words (chain id, executor, engine id) so a refusal can say which
engine a command was signed for; the signature is checked against the engine's own domain.

Every struct is `nonce` (uint256, random: services sign in parallel without coordinating)
and `deadline` (uint256 seconds since 1970, at most an hour ahead), then the command's own
fields, named in camelCase as wallets show them. From each door's model (floor/operations.py,
floor/risk/breakers.py) a struct keeps what the engine acts on and drops `by` (the signer is
the who): base-unit amounts are uint256 (JSON: a string of digits), addresses are address,
reasons and scopes are string, chain ids uint256 (JSON: a number), an allocation's amounts an
array of the struct AssetAmount, a capital request's ISO deadline the uint256 `deliverBy`
(0: none), and a configuration (far too large to show in a wallet) its `configHash`: keccak256
of its canonical JSON (`config_hash`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Annotated, Any, Literal

from coincurve import PublicKey
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.constants import SECPK1_N
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError

from floor.access.roles import NEEDS, Address, Kind, Role, RoleBook, role_refusal
from floor.models import Amount, ChainId, FrozenModel
from floor.validation import flat, one_line

DOMAIN_NAME, DOMAIN_VERSION = "Floor Engine", "1"
MAX_COMMAND_BYTES = 24_576  # the largest well-formed command (100 allocation amounts) is about 19 KB
MAX_AHEAD_S = 3600  # a deadline further ahead is refused: a signed command is short-lived
MAX_NONCES_PER_SIGNER = 100  # live (deadline not passed) nonces one signer may hold
MAX_NONCES = 20_000  # live nonces of all signers together
ANONYMOUS = "anonymous"  # the rate-limit key of accepted commands no member signed (a pause)
UNPROVEN = "unproven"  # the rate-limit key of refusals no member's signature proves


class CommandRefused(ValueError):
    """A command the verifier refuses: the message is one line naming what failed. `blame` is
    the rate limiter's key: a member whose valid signature is on the command, else UNPROVEN
    (anyone can write any claimed signer, so only a member's own key can cost them)."""

    def __init__(self, reason: str, blame: str = UNPROVEN) -> None:
        super().__init__(reason.encode("utf-8", "backslashreplace").decode())  # a lone surrogate quoted back
        self.blame = blame


# ---------------------------------------------------------------------------- the domain


class CommandDomain(FrozenModel):
    """The engine a command is for, in plain words (the wallet sees `typed()`)."""

    chain_id: ChainId
    executor: Address
    engine: str = Field(min_length=1, max_length=200)  # the engine's workflow id

    def typed(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.executor,
            "salt": "0x" + keccak(text=self.engine).hex(),
        }


DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
    {"name": "salt", "type": "bytes32"},
]


# ---------------------------------------------------------------------------- field types


@dataclass(frozen=True)
class Sol:
    """A field's EIP-712 type, carried in its annotation: the models are the one definition."""

    type: str


def _bytes32(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 66 and value.startswith("0x"):
        try:
            bytes.fromhex(value[2:])
            return value.lower()
        except ValueError:
            pass
    raise ValueError("must be 32 bytes as 0x and 64 hex digits")


def _role_name(value: Any) -> Any:
    if isinstance(value, str) and value in Role.__members__:
        return value
    raise ValueError(f"must be one of {', '.join(Role.__members__)}")


Uint256 = Annotated[Amount, Sol("uint256")]  # JSON: a string of digits (or a number)
PositiveUint256 = Annotated[Amount, Field(gt=0), Sol("uint256")]
ChainNumber = Annotated[ChainId, Sol("uint256")]  # JSON: a number
Seconds = Annotated[Amount, Field(ge=1, le=86_400), Sol("uint256")]
AddressField = Annotated[Address, Sol("address")]
Reason = Annotated[str, Field(max_length=500), Sol("string")]
Scope = Annotated[str, Field(min_length=1, max_length=300), Sol("string")]
Symbol = Annotated[str, Field(min_length=1, max_length=32), Sol("string")]
Name = Annotated[str, Field(max_length=100), Sol("string")]
RoleField = Annotated[str, BeforeValidator(_role_name), Sol("string")]
Bytes32 = Annotated[str, BeforeValidator(_bytes32), Sol("bytes32")]
Flag = Annotated[StrictBool, Sol("bool")]
Query = Annotated[Literal["status", "history", "breakers", "results"], Sol("string")]


class Struct(FrozenModel):
    """An EIP-712 struct: a command kind's, or one a command uses (AssetAmount)."""


class AssetAmount(Struct):
    chainId: ChainNumber
    asset: Symbol
    amount: PositiveUint256


class Command(Struct):
    """What every command struct starts with; the struct's name is its EIP-712 type."""

    nonce: Uint256
    deadline: Uint256


class Read(Command):
    query: Query


class Pause(Command):
    reason: Reason


class Resume(Command):
    reason: Reason


class Allocate(Command):
    amounts: Annotated[list[AssetAmount], Field(min_length=1, max_length=100), Sol("AssetAmount[]")]
    reason: Reason


class Rebalance(Command):
    reason: Reason


class Harvest(Command):
    reason: Reason


class CheckRisk(Command):
    reason: Reason


class AcceptReconciliation(Command):
    scope: Scope
    reason: Reason


class RequestCapital(Command):
    chainId: ChainNumber
    asset: Symbol
    amount: PositiveUint256
    destination: AddressField
    deliverBy: Uint256  # seconds since 1970; 0: no deadline
    partial: Flag
    exitPollSeconds: Seconds
    reason: Reason


class PanicExit(Command):
    reason: Reason


class TripBreaker(Command):
    scope: Scope
    reason: Reason


class HalfOpenBreaker(Command):
    scope: Scope
    reason: Reason


class Configure(Command):
    configHash: Bytes32
    reason: Reason


class ApplySchedules(Command):
    configHash: Bytes32
    reason: Reason


class GrantRole(Command):
    account: AddressField
    role: RoleField
    name: Name
    reason: Reason


class RevokeRole(Command):
    account: AddressField
    reason: Reason


STRUCTS: dict[Kind, type[Command]] = {
    Kind.READ: Read,
    Kind.PAUSE: Pause,
    Kind.RESUME: Resume,
    Kind.ALLOCATE: Allocate,
    Kind.REBALANCE: Rebalance,
    Kind.HARVEST: Harvest,
    Kind.CHECK_RISK: CheckRisk,
    Kind.ACCEPT_RECONCILIATION: AcceptReconciliation,
    Kind.REQUEST_CAPITAL: RequestCapital,
    Kind.PANIC_EXIT: PanicExit,
    Kind.TRIP_BREAKER: TripBreaker,
    Kind.HALF_OPEN_BREAKER: HalfOpenBreaker,
    Kind.CONFIGURE: Configure,
    Kind.APPLY_SCHEDULES: ApplySchedules,
    Kind.GRANT_ROLE: GrantRole,
    Kind.REVOKE_ROLE: RevokeRole,
}
REFERENCED: dict[str, type[Struct]] = {"AssetAmount": AssetAmount}


def struct_type(model: type[Struct]) -> list[dict[str, str]]:
    """A struct's EIP-712 members, in field order, from the Sol marks of its annotations."""
    members = []
    for name, info in model.model_fields.items():
        sol = next(m for m in info.metadata if isinstance(m, Sol))
        members.append({"name": name, "type": sol.type})
    return members


def eip712_types(kind: Kind) -> dict[str, list[dict[str, str]]]:
    """The `types` of a command kind's typed data: the domain, the struct and what it uses."""
    model = STRUCTS[kind]
    types = {"EIP712Domain": DOMAIN_TYPE, model.__name__: struct_type(model)}
    for member in types[model.__name__]:
        used = member["type"].removesuffix("[]")
        if used in REFERENCED:
            types[used] = struct_type(REFERENCED[used])
    return types


TYPES: dict[Kind, dict[str, list[dict[str, str]]]] = {kind: eip712_types(kind) for kind in Kind}


def typed_data(kind: Kind, fields: Command, domain: CommandDomain) -> dict[str, Any]:
    """The whole typed data, as JSON: what a wallet's `eth_signTypedData_v4` takes."""
    return {
        "types": TYPES[kind],
        "primaryType": STRUCTS[kind].__name__,
        "domain": domain.typed(),
        "message": fields.model_dump(mode="json"),
    }


def digest(kind: Kind, fields: Command, domain: CommandDomain) -> bytes:
    """The 32 bytes a signature signs: keccak256(0x1901 || domainSeparator || hashStruct(fields)),
    computed here (no JSON round trip, the domain and type hashes cached: a verify stays well
    under a millisecond); the tests hold it equal to eth-account's `encode_typed_data`."""
    return keccak(b"\x19\x01" + domain_separator(domain) + hash_struct(fields))


@lru_cache(maxsize=64)  # the engines' own domains: a handful
def domain_separator(domain: CommandDomain) -> bytes:
    typed = domain.typed()
    return keccak(
        keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)")
        + keccak(text=typed["name"])
        + keccak(text=typed["version"])
        + typed["chainId"].to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(typed["verifyingContract"][2:])
        + bytes.fromhex(typed["salt"][2:])
    )


def encode_type(model: type[Struct]) -> str:
    """EIP-712's encodeType: the struct, then the structs it uses, sorted by name."""

    def signature(m: type[Struct]) -> str:
        return f"{m.__name__}({','.join(f'{t} {n}' for n, t in members(m))})"

    used = sorted({t.removesuffix("[]") for _, t in members(model)} & REFERENCED.keys())
    return signature(model) + "".join(signature(REFERENCED[name]) for name in used)


@cache
def type_hash(model: type[Struct]) -> bytes:
    return keccak(text=encode_type(model))


@cache
def members(model: type[Struct]) -> tuple[tuple[str, str], ...]:
    return tuple((m["name"], m["type"]) for m in struct_type(model))


def hash_struct(value: Struct) -> bytes:
    words = [type_hash(type(value))]
    for name, sol in members(type(value)):
        field = getattr(value, name)
        if sol == "uint256":
            words.append(field.to_bytes(32, "big"))
        elif sol == "address":
            words.append(bytes(12) + bytes.fromhex(field[2:]))
        elif sol == "bool":
            words.append(int(field).to_bytes(32, "big"))
        elif sol == "string":
            words.append(keccak(text=field))
        elif sol == "bytes32":
            words.append(bytes.fromhex(field[2:]))
        else:  # an array of structs
            words.append(keccak(b"".join(hash_struct(item) for item in field)))
    return keccak(b"".join(words))


def config_hash(config: Any) -> str:
    """A configuration's `configHash`: keccak256 of its canonical JSON (keys sorted, no spaces,
    ASCII), as 0x-hex. Pass the JSON form (`EngineConfig.model_dump(mode="json")`)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "0x" + keccak(text=text).hex()


# ---------------------------------------------------------------------------- on the wire


class SignedCommand(FrozenModel):
    """A command as it travels (JSON): its kind, the domain it claims, the struct's fields
    (`message`, as in the typed data), who claims to have signed it and the signature (65
    bytes, r || s || v, as 0x-hex: what `eth_signTypedData_v4` answers). A pause may come
    with neither signer nor signature."""

    kind: str = Field(max_length=40)
    domain: CommandDomain
    message: dict[str, Any]
    signer: Address | None = None
    signature: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{130}$")


class Verified(BaseModel):
    """An accepted command: what to act on, who signed it (None: an unsigned pause), and the
    digest the audit log records."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    fields: Command
    signer: str | None
    role: Role | None
    digest: str  # 0x-hex of the EIP-712 digest

    @property
    def limit_key(self) -> str:
        """The rate limiter's key: the member who signed, else ANONYMOUS."""
        return self.signer if self.signer is not None and self.role is not None else ANONYMOUS


def sign_command(kind: Kind | str, fields: dict[str, Any] | Command, key: Any, domain: CommandDomain) -> SignedCommand:
    """A signed command, as a wallet would make it: `key` is a private key (or an eth-account
    LocalAccount). For tests, tools and services that hold their own key."""
    kind = Kind(kind)
    fields = fields if isinstance(fields, Command) else STRUCTS[kind].model_validate(fields)
    account = key if hasattr(key, "sign_message") else Account.from_key(key)
    signed = account.sign_message(encode_typed_data(full_message=typed_data(kind, fields, domain)))
    return SignedCommand(
        kind=kind.value,
        domain=domain,
        message=fields.model_dump(mode="json"),
        signer=account.address,
        signature="0x" + bytes(signed.signature).hex(),
    )


# ---------------------------------------------------------------------------- replay


class UsedNonces(FrozenModel):
    """The nonces each signer has used, with their commands' deadlines. An entry whose deadline
    has passed is dropped: its command would be refused as expired anyway, so the set stays
    bounded by how many commands can be live (the rate limits, MAX_NONCES*). JSON: carried in
    the engine's memory across continue-as-new."""

    by_signer: dict[str, dict[str, int]] = Field(default_factory=dict)  # signer -> {nonce: deadline}

    def seen(self, signer: str, nonce: int) -> bool:
        return str(nonce) in self.by_signer.get(signer, {})

    def live(self, signer: str, now: int) -> int:
        return sum(1 for deadline in self.by_signer.get(signer, {}).values() if deadline >= now)

    def live_total(self, now: int) -> int:
        return sum(1 for nonces in self.by_signer.values() for deadline in nonces.values() if deadline >= now)

    def pruned(self, now: int) -> UsedNonces:
        kept = {s: {n: d for n, d in nonces.items() if d >= now} for s, nonces in self.by_signer.items()}
        return UsedNonces(by_signer={s: nonces for s, nonces in kept.items() if nonces})

    def add(self, signer: str, nonce: int, deadline: int, now: int) -> UsedNonces:
        """With `nonce` used (what an accepted command's update records), expired ones dropped."""
        book = self.pruned(now).by_signer
        return UsedNonces(by_signer={**book, signer: {**book.get(signer, {}), str(nonce): deadline}})


# ---------------------------------------------------------------------------- the verifier


def read_command(raw: bytes | str | dict[str, Any] | SignedCommand) -> SignedCommand:
    """The signed command in `raw`: the payload's bytes (a workflow's RawValue), JSON text, or
    what a data converter decoded. Oversized input is refused by its length before parsing."""
    if isinstance(raw, SignedCommand):
        return raw
    if isinstance(raw, dict):  # already decoded (within Temporal's own payload limit)
        raw = json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_COMMAND_BYTES:
        raise CommandRefused(f"command is {size:,} bytes; at most {MAX_COMMAND_BYTES:,}")
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise CommandRefused(f"not a signed command: not JSON ({flat(str(exc))})") from None
    if not isinstance(decoded, dict):
        raise CommandRefused("not a signed command: expected a JSON object with kind, domain, message, signature")
    try:
        return SignedCommand.model_validate(decoded)
    except ValidationError as exc:
        raise CommandRefused(f"not a signed command: {one_line(exc)}") from None


def domain_refusal(claimed: CommandDomain, domain: CommandDomain) -> str | None:
    if claimed.chain_id != domain.chain_id:
        return f"signed for chain {claimed.chain_id}, this engine is on chain {domain.chain_id}"
    if claimed.executor != domain.executor:
        return f"signed for executor {claimed.executor}, this engine's executor is {domain.executor}"
    if claimed.engine != domain.engine:
        return f"signed for engine {claimed.engine!r}, this is engine {domain.engine!r}"
    return None


def deadline_refusal(deadline: int, now: int) -> str | None:
    if deadline < now:
        return f"expired {now - deadline} s ago"
    if deadline - now > MAX_AHEAD_S:
        return f"deadline is {deadline - now} s ahead; at most {MAX_AHEAD_S} s"
    return None


def recover(signature: str, digest_: bytes) -> bytes:
    """The 20 bytes of the address whose key made `signature` (r || s || v) over `digest_`;
    CommandRefused for a signature no wallet makes (v not 27/28 or 0/1, r or s out of range,
    a high s: one signature per message)."""
    raw = bytes.fromhex(signature[2:])
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    v = v - 27 if v in (27, 28) else v
    if v not in (0, 1):
        raise CommandRefused(f"malformed signature: v is {raw[64]}, not 27 or 28")
    if not (0 < r < SECPK1_N and 0 < s <= SECPK1_N // 2):
        raise CommandRefused("malformed signature: r or s out of range (a high s is refused)")
    try:
        key = PublicKey.from_signature_and_message(raw[:64] + bytes([v]), digest_, hasher=None)
    except Exception as exc:  # no point on the curve for this r
        raise CommandRefused(f"malformed signature: no key recovers from it ({type(exc).__name__})") from None
    return keccak(key.format(compressed=False)[1:])[12:]


def verify(
    raw: bytes | str | dict[str, Any] | SignedCommand,
    domain: CommandDomain,
    book: RoleBook,
    now: int,
    used: UsedNonces,
    *,
    expected: Kind | None = None,
) -> Verified:
    """The command in `raw`, verified for this engine, or CommandRefused naming what failed.
    Checks, in order: size, a known kind, well-formed fields, the domain (chain, executor,
    engine), the deadline (not past, at most MAX_AHEAD_S ahead), the signature recovering to
    the claimed signer, the signer's role, and the nonce not used by this signer. Pure: the
    caller records the nonce (`used.add`) when it acts on the command. `expected`: the kind of
    the door (the update) it came through, when that door takes one kind only."""
    signed = read_command(raw)
    try:
        kind = Kind(signed.kind)
    except ValueError:
        raise CommandRefused(
            f"unknown command kind {signed.kind!r} (known: {', '.join(k.value for k in Kind)})"
        ) from None
    if expected is not None and kind != expected:
        raise CommandRefused(f"a {kind.value!r} command sent to the {expected.value!r} update")
    try:
        fields = STRUCTS[kind].model_validate(signed.message)
    except ValidationError as exc:
        raise CommandRefused(f"not a valid {kind.value} command: {one_line(exc)}") from None
    reason = domain_refusal(signed.domain, domain) or deadline_refusal(fields.deadline, now)
    if reason:
        raise CommandRefused(reason)
    hashed = digest(kind, fields, domain)
    if signed.signature is None and signed.signer is None and NEEDS[kind] is None:
        return Verified(kind=kind, fields=fields, signer=None, role=None, digest="0x" + hashed.hex())
    if signed.signature is None or signed.signer is None:
        missing = "signature" if signed.signature is None else "signer"
        if NEEDS[kind] is None:
            raise CommandRefused(f"half signed: no {missing} (a {kind.value} comes with both, or with neither)")
        raise CommandRefused(f"unsigned: {kind.value} needs a signature and its signer (no {missing})")
    recovered_bytes = recover(signed.signature, hashed)
    if recovered_bytes != bytes.fromhex(signed.signer[2:]):
        recovered = to_checksum_address(recovered_bytes)
        blame = recovered if book.role_of(recovered) is not None else UNPROVEN
        raise CommandRefused(
            f"signature does not match: it recovers to {recovered}, not the claimed signer {signed.signer}"
            " (a field changed after signing, or another key signed)",
            blame,
        )
    role = book.role_of(signed.signer)
    blame = signed.signer if role is not None else UNPROVEN
    reason = role_refusal(signed.signer, role, kind)
    if reason:
        raise CommandRefused(reason, blame)
    if used.seen(signed.signer, fields.nonce):
        raise CommandRefused(f"replayed: nonce {fields.nonce} of {signed.signer} was already used", blame)
    if used.live(signed.signer, now) >= MAX_NONCES_PER_SIGNER or used.live_total(now) >= MAX_NONCES:
        raise CommandRefused(
            f"too many live commands: {signed.signer} has {used.live(signed.signer, now)} unexpired nonces"
            f" (at most {MAX_NONCES_PER_SIGNER}; the engine at most {MAX_NONCES}); retry when some expire",
            blame,
        )
    return Verified(kind=kind, fields=fields, signer=signed.signer, role=role, digest="0x" + hashed.hex())
