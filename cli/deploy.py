"""`floor deploy`: the executor per network (deploy/networks/<network>.toml), its registry
(deploy/deployments/<network>.json), verification, staged promotion and rollback.

    floor deploy testnet --dry-run      every step and transaction, nothing sent
    floor deploy testnet                deploy (CREATE2) and give it the declared rules
    floor deploy verify testnet         the chain against the registry and the code; exit 1 on a difference
    floor deploy promote testnet mainnet    through the health gates, then deploy mainnet
    floor deploy rollback testnet       the previous entry's rules, through the Safe
    floor deploy set-operator testnet 0xNEW --unpause   a new operator (and the pause lifted), through the Safe

Keys come from the environment, never the command line: $FLOOR_DEPLOYER_KEY pays for the
transactions (on a local chain, the node's first account when unset); $FLOOR_SAFE_OWNER_KEYS
(comma-separated) sign the Safe transaction. Without enough owner keys the Safe Transaction
Builder's batch file is written beside the registry for the owners to sign in their wallets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from cli.options import JsonOpt, command

if TYPE_CHECKING:
    from web3 import Web3

    from floor.deploy.apply import Keys, Outcome
    from floor.deploy.network import Network

DEPLOYER_KEY_ENV = "FLOOR_DEPLOYER_KEY"
OWNER_KEYS_ENV = "FLOOR_SAFE_OWNER_KEYS"


class _DeployGroup(TyperGroup):
    """`floor deploy NETWORK` is `floor deploy apply NETWORK`: a first word that is not a
    subcommand names a network."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["apply", *args]
        return super().parse_args(ctx, args)


deploy_app = typer.Typer(
    cls=_DeployGroup,
    help="The executor per network: deploy (CREATE2), verify, promote through health gates, roll back.",
    no_args_is_help=True,
)

NetworkArg = Annotated[
    str, typer.Argument(help="a network: deploy/networks/<NAME>.toml, or a network file's path", show_default=False)
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="print every step and transaction; send nothing")]
RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry", help="the registry's directory (default: $FLOOR_DEPLOY_REGISTRY_DIR, else deploy/deployments)"
    ),
]


def _connect(network: Network) -> Web3:
    """The network's chain, answering with its chain id (the URL is not shown: it may hold a key)."""
    from floor.chain.rpc import connect
    from floor.deploy.apply import DeployError

    w3 = connect([network.rpc])
    try:
        chain_id = w3.eth.chain_id
    except Exception:
        raise DeployError(f"{network.name}: its RPC (rpc_url, or ${network.rpc_env}) does not answer") from None
    if chain_id != network.chain_id:
        raise DeployError(f"{network.name}: the RPC serves chain {chain_id}, not {network.chain_id}")
    return w3


def _keys(w3: Web3) -> Keys:
    from floor.deploy.apply import Keys

    owners = [k.strip() for k in os.environ.get(OWNER_KEYS_ENV, "").split(",") if k.strip()]
    return Keys.of(w3, os.environ.get(DEPLOYER_KEY_ENV) or None, owners)


def _print(outcome: Outcome, as_json: bool, dry_run: bool, doing: str = "deploying") -> None:
    if as_json:
        print(json.dumps(outcome.as_json() | {"dry_run": dry_run}, indent=2, default=str))
        return
    head = "dry run: nothing is sent" if dry_run else doing
    print(f"{outcome.network}: {head}; executor {outcome.address}")
    for n, step in enumerate(outcome.steps, 1):
        print(f"{n:>3}. {step.line()}")
    if outcome.entry is not None:
        e = outcome.entry
        operator = f", operator {e.operator}" if e.action == "set-operator" else ""
        print(f"recorded: {e.action} at block {e.block}{operator}, rules {e.rules_hash}, version {e.version}")
    elif outcome.batch_file is not None:
        print(f"waiting for the owners: sign {outcome.batch_file} in the Safe app, then run this again to record it")


@deploy_app.command("apply")
@command
def apply_(
    network: NetworkArg, dry_run: DryRunOpt = False, registry: RegistryOpt = None, as_json: JsonOpt = False
) -> int:
    """Deploy the network's executor (CREATE2) and give it the rules the code declares (`floor deploy NETWORK`)."""
    from floor.deploy.apply import deploy
    from floor.deploy.network import load_network
    from floor.deploy.registry import load_registry

    net = load_network(network)
    w3 = _connect(net)
    reg = load_registry(net.name, net.chain_id, registry)
    outcome = deploy(w3, net, reg, None if dry_run else _keys(w3), dry_run=dry_run)
    _print(outcome, as_json, dry_run)
    return 0


@deploy_app.command()
@command
def verify(network: NetworkArg, registry: RegistryOpt = None, as_json: JsonOpt = False) -> int:
    """Compare the chain's executor with the registry and the code: each difference one line; exit 1 if any."""
    from floor.deploy.apply import declared_rules
    from floor.deploy.network import load_network
    from floor.deploy.registry import load_registry
    from floor.deploy.verify import verify_network

    net = load_network(network)
    reg = load_registry(net.name, net.chain_id, registry)
    if reg.latest is None:  # nothing to compare: the chain is not asked
        lines = [f"no deployment of {net.name} is recorded in {reg.path}"]
    else:
        declared, _ = declared_rules(net)
        lines = verify_network(_connect(net), net, reg.latest, declared, reg.entries[:-1])
    address = reg.latest.address if reg.latest else None
    if as_json:
        print(json.dumps({"network": net.name, "executor": address, "verified": not lines, "differences": lines}))
    elif lines:
        for line in lines:
            print(line)
    else:
        print(f"{net.name}: executor {address} matches the registry and the code")
    return 1 if lines else 0


@deploy_app.command()
@command
def promote(
    source: Annotated[str, typer.Argument(help="the network it runs on now, e.g. testnet", show_default=False)],
    target: Annotated[str, typer.Argument(help="the network to promote it to, e.g. mainnet", show_default=False)],
    dry_run: DryRunOpt = False,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Promote SOURCE's executor to TARGET when every health gate passes (alerts, reconciliation, verified, soak)."""
    from floor.config import ConfigError, Settings, load_settings
    from floor.deploy.apply import declared_rules, deploy
    from floor.deploy.network import load_network
    from floor.deploy.promote import gates, refuse_on_failure
    from floor.deploy.registry import load_registry

    src, dst = load_network(source), load_network(target)
    reg_src = load_registry(src.name, src.chain_id, registry)
    try:
        settings: Settings | str = load_settings(src.config_path)
    except ConfigError as exc:  # its gates fail, by name, rather than the command
        settings = str(exc)
    if reg_src.latest is None or isinstance(settings, str):
        results = gates(None, src, reg_src, None, settings, dst)
    else:
        results = gates(_connect(src), src, reg_src, declared_rules(src)[0], settings, dst)
    report: dict[str, Any] = {"gates": [g.__dict__ for g in results]}
    if not as_json:
        for g in results:
            print(g.line())
    try:
        refuse_on_failure(results)
    except Exception:
        if as_json:
            print(json.dumps(report | {"promoted": False}))
        raise
    w3 = _connect(dst)
    reg = load_registry(dst.name, dst.chain_id, registry)
    outcome = deploy(w3, dst, reg, None if dry_run else _keys(w3), dry_run=dry_run, action="promote")
    if as_json:
        print(json.dumps(report | {"promoted": not dry_run, "deployment": outcome.as_json()}, default=str))
    else:
        _print(outcome, False, dry_run)
    return 0


@deploy_app.command()
@command
def rollback(
    network: NetworkArg, dry_run: DryRunOpt = False, registry: RegistryOpt = None, as_json: JsonOpt = False
) -> int:
    """Restore the previous registry entry's rules on the network's executor, through the owner Safe."""
    from floor.deploy.apply import rollback as roll_back
    from floor.deploy.network import load_network
    from floor.deploy.registry import load_registry

    net = load_network(network)
    reg = load_registry(net.name, net.chain_id, registry)
    reg.previous_rules()  # refused before the chain is asked: nothing earlier to restore
    w3 = _connect(net)
    outcome = roll_back(w3, net, reg, None if dry_run else _keys(w3), dry_run=dry_run)
    _print(outcome, as_json, dry_run)
    return 0


@deploy_app.command("set-operator")
@command
def set_operator(
    network: NetworkArg,
    new_operator: Annotated[
        str, typer.Argument(help="the new operator: the address of the worker's new signer key", show_default=False)
    ],
    unpause: Annotated[
        bool, typer.Option("--unpause", help="lift the executor's pause in the same Safe transaction")
    ] = False,
    dry_run: DryRunOpt = False,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Replace the executor's operator (a leaked key) through the owner Safe, with --unpause in the same transaction."""
    from eth_utils.address import is_address

    from cli.amounts import InputError
    from floor.deploy.apply import set_operator as rotate
    from floor.deploy.network import load_network
    from floor.deploy.registry import load_registry

    if not is_address(new_operator):
        raise InputError(f"new operator: not an address: {new_operator!r}")
    net = load_network(network)
    reg = load_registry(net.name, net.chain_id, registry)
    reg.current()  # refused before the chain is asked: no executor recorded
    w3 = _connect(net)
    outcome = rotate(w3, net, reg, None if dry_run else _keys(w3), new_operator, unpause=unpause, dry_run=dry_run)
    _print(outcome, as_json, dry_run, "rotating the operator")
    return 0
