"""How a native ETH position joins the chain's position read: the activity-level reader.

The engine reads every market of a chain in one Multicall3 batch; a validator's balance is on
the consensus layer, not in any contract. So before that batch, `beacon_view` makes one Beacon
API request for all the market's validators (`GET /eth/v1/beacon/states/head/validators?id=
<pubkey>,...`; the node's genesis is read once per client) and one read of EIP-7002's fee, and
returns the adapter carrying that snapshot (`NativeEthAdapter.with_beacon`). Handed to
`floor.chain.positions.read_positions` with the chain's other adapters, it decodes its
Multicall3 results (the executor's ETH, the deposit count) plus the snapshot's balances (gwei
-> wei): one HTTP request per read beside the chain's one batch.

`exits` reports each exiting validator with its status and expected wait. I/O: activities only.
"""

from __future__ import annotations

from dataclasses import dataclass

from floor.adapters.base import Adapter
from floor.chain.multicall import MulticallReader
from floor.protocols.native_eth.adapter import NativeEthAdapter, decode_fee, fee_read
from floor.protocols.native_eth.beacon import BeaconClient
from floor.protocols.native_eth.errors import WrongForkVersion
from floor.protocols.native_eth.validators import snapshot


@dataclass(frozen=True)
class ExitStatus:
    pubkey: str
    status: str  # active_exiting, exited_unslashed, withdrawal_possible
    balance: int  # wei
    exit_epoch: int
    withdrawable_epoch: int
    expected_wait_s: int  # until the balance should reach the executor


def beacon_view(reader: MulticallReader, beacon: BeaconClient, adapter: NativeEthAdapter) -> NativeEthAdapter:
    """`adapter` with the beacon state of its validators and EIP-7002's current fee."""
    genesis = beacon.genesis()
    batch = reader.read([fee_read(adapter.withdrawal_request)])
    fee = decode_fee(batch.results[0], str(adapter.key))
    for d in adapter.validators:
        if d.fork_version != genesis.genesis_fork_version:
            raise WrongForkVersion(
                f"{adapter.key}: deposit data for fork 0x{d.fork_version.hex()}, but the beacon node's "
                f"genesis fork is 0x{genesis.genesis_fork_version.hex()}"
            )
    validators = beacon.validators([d.pubkey for d in adapter.validators]) if adapter.validators else []
    return adapter.with_beacon(snapshot(validators, genesis, batch.timestamp), fee)


def exits(adapter: NativeEthAdapter) -> list[ExitStatus]:
    """The market's exiting validators (the snapshot `beacon_view` read), with their waits."""
    if adapter.beacon is None:
        return []
    out = []
    for v in adapter.beacon.validators:
        wait = adapter.beacon.exit_wait_s(v)
        if wait is not None:
            out.append(
                ExitStatus("0x" + v.pubkey.hex(), v.status, v.balance_wei, v.exit_epoch, v.withdrawable_epoch, wait)
            )
    return out


def with_beacon_views(
    reader: MulticallReader, adapters: list[Adapter], beacons: dict[str, BeaconClient] | None = None
) -> list[Adapter]:
    """`adapters`, each native ETH market with deposit data carrying its validators' beacon
    snapshot (`beacon_view`), so its position, liquidity and pending validators are the
    consensus layer's; the others as they are. `beacons`: clients by URL, reused."""
    beacons = {} if beacons is None else beacons
    out: list[Adapter] = []
    for a in adapters:
        if isinstance(a, NativeEthAdapter) and a.validators and a.beacon is None and a.beacon_api_url:
            url = a.beacon_api_url
            a = beacon_view(reader, beacons.setdefault(url, BeaconClient(url)), a)
        out.append(a)
    return out
