"""The executor's deterministic address: CREATE2 through the deterministic deployment proxy.

Arachnid's proxy (github.com/Arachnid/deterministic-deployment-proxy) sits at the same address
on every EVM chain. Called with `salt ++ initcode`, it runs CREATE2 and answers the new
contract's address, so the address depends only on the proxy, the salt and the init code:

    address = keccak256(0xff ++ proxy ++ salt ++ keccak256(initcode))[12:]

The init code is FloorExecutor's creation code followed by its constructor arguments
`(owner, operator, guardian)`, and the salt hashes the network's inputs (the same three and a
label, never the chain id), so the same inputs give the same executor address on every chain
and a different owner, operator, guardian or label gives another one.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from floor.devnet.artifacts import load_artifact
from floor.errors import FloorError

PROXY = "0x4e59b44847b379578588920cA78FbF26c0B4956C"
# The proxy's runtime code, as deployed on every chain that has it: reads the salt (the first
# 32 bytes of calldata) and the init code (the rest), CREATE2s, reverts if creation failed,
# returns the 20-byte address.
PROXY_RUNTIME = (
    "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe036016000816020823780358282"
    "34f58015156039578182fd5b8082525050506014600cf3"
)
EXECUTOR = "FloorExecutor"


class ProxyMissing(FloorError):
    """The chain has no deterministic deployment proxy, and it is not a local chain where the
    tool may put its code."""


@dataclass(frozen=True)
class Inputs:
    """What decides the executor's address: its constructor arguments and a label."""

    owner: str
    operator: str
    guardian: str
    label: str = "floor.executor"

    @property
    def salt(self) -> bytes:
        return keccak(
            encode(
                ["string", "address", "address", "address"],
                [
                    self.label,
                    to_checksum_address(self.owner),
                    to_checksum_address(self.operator),
                    to_checksum_address(self.guardian),
                ],
            )
        )

    @property
    def initcode(self) -> bytes:
        creation = bytes.fromhex(load_artifact(EXECUTOR).bytecode.removeprefix("0x"))
        args = encode(["address", "address", "address"], [self.owner, self.operator, self.guardian])
        return creation + args

    @property
    def address(self) -> str:
        return create2_address(PROXY, self.salt, self.initcode)

    def deploy_data(self) -> bytes:
        """The proxy's calldata: the salt, then the init code."""
        return self.salt + self.initcode


def create2_address(deployer: str, salt: bytes, initcode: bytes) -> str:
    """keccak256(0xff ++ deployer ++ salt ++ keccak256(initcode)), its last 20 bytes (EIP-1014)."""
    if len(salt) != 32:
        raise ValueError(f"a CREATE2 salt is 32 bytes, got {len(salt)}")
    raw = b"\xff" + bytes.fromhex(deployer.removeprefix("0x")) + salt + keccak(initcode)
    return to_checksum_address(keccak(raw)[12:])


def runtime_code_hash() -> str:
    """keccak256 of the executor's runtime code as compiled (it has no immutables, so the code
    on chain is exactly this)."""
    return "0x" + keccak(hexstr=load_artifact(EXECUTOR).deployed_bytecode).hex()


def code_hash(w3: Web3, address: str) -> str | None:
    """keccak256 of the code at `address`, None where there is none."""
    code = bytes(w3.eth.get_code(to_checksum_address(address)))
    return "0x" + keccak(code).hex() if code else None


def proxy_present(w3: Web3) -> bool:
    return bool(w3.eth.get_code(to_checksum_address(PROXY)))


def install_proxy(w3: Web3) -> None:
    """Put the proxy's code at its address on a local chain (anvil). A real chain has it: one
    without it is refused by name rather than deployed to at another address."""
    if proxy_present(w3):
        return
    try:
        w3.provider.make_request(RPCEndpoint("anvil_setCode"), [to_checksum_address(PROXY), PROXY_RUNTIME])
    except Exception as exc:
        raise ProxyMissing(f"chain {w3.eth.chain_id} has no deployment proxy at {PROXY} ({exc})") from None
    if not proxy_present(w3):
        raise ProxyMissing(f"chain {w3.eth.chain_id} has no deployment proxy at {PROXY} and is not a local chain")
