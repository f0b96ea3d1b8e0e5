"""Deploying a network's executor and giving it its rules, step by step: what `floor deploy`
runs, prints (`--dry-run`: prints and sends nothing) and records in the registry.

1. The deterministic deployment proxy (floor/deploy/create2.py): present, or put on a local chain.
2. The executor at its CREATE2 address, unless code is there already (then it must be the
   compiled FloorExecutor's).
3. The owner's transactions that turn the executor's rules (read back from the chain) into the
   ones the code declares: nothing when they match. The owner is the network's Safe: the calls
   go as one Safe transaction (MultiSendCallOnly), signed by the owners' keys given and run by
   `execTransaction`; without enough keys the Safe Transaction Builder's batch file is written
   for the owners to sign in their own wallets, and a later `floor deploy` records the result.
4. A registry entry: the executor, its code hash, the rules and their hash, the config's hash,
   the block and transaction, the engine's version.

`set_operator` rotates the operator (a leaked key) the same way: the executor's
`setOperator(new)` and, when asked, `unpause()` as one Safe transaction; the registry records
the new operator in an entry of its own (the executor's address stays: its CREATE2 inputs hold
the operator it was deployed with).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.types import TxParams, TxReceipt, Wei

from floor.calls import call, encode_call
from floor.chain.signer import LocalKeySigner, Signer
from floor.deploy import safe as safe_module
from floor.deploy.create2 import PROXY, Inputs, code_hash, install_proxy, proxy_present, runtime_code_hash
from floor.deploy.network import Network, config_hash, declared_chain
from floor.deploy.registry import Entry, Registry, RegistryError, Rules, engine_version, now
from floor.deploy.verify import logged_keys, read_executor
from floor.errors import FloorError
from floor.models import Call

Sender = str | Signer


class DeployError(FloorError):
    """A deployment step cannot run: the wrong chain, foreign code at the executor's address,
    a refused Safe transaction."""


@dataclass
class Step:
    what: str
    to: str | None = None
    data_size: int = 0
    sent: str | None = None  # the transaction's hash, once sent

    def line(self) -> str:
        target = f" -> {self.to} ({self.data_size} bytes)" if self.to else ""
        done = f" [sent {self.sent}]" if self.sent else ""
        return f"{self.what}{target}{done}"


@dataclass
class Outcome:
    network: str
    address: str
    steps: list[Step] = field(default_factory=list)
    entry: Entry | None = None  # recorded (None: dry run, or rules waiting for the owners)
    batch_file: Path | None = None  # the Transaction Builder batch written for the owners

    def as_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "address": self.address,
            "steps": [s.__dict__ for s in self.steps],
            "recorded": self.entry.__dict__ if self.entry else None,
            "batch_file": str(self.batch_file) if self.batch_file else None,
        }


@dataclass(frozen=True)
class Keys:
    """Who sends and signs: the account paying for the deployment (an address the node signs
    for, or a key), and the Safe owners' keys."""

    deployer: Sender
    owners: Sequence[str] = ()

    @classmethod
    def of(cls, w3: Web3, deployer_key: str | None, owner_keys: Sequence[str]) -> Keys:
        if deployer_key:
            return cls(LocalKeySigner.from_private_key(deployer_key), tuple(owner_keys))
        accounts = list(w3.eth.accounts)  # a local chain's node signs for its own accounts
        if not accounts:
            raise DeployError("no key pays for the deployment: set $FLOOR_DEPLOYER_KEY")
        return cls(accounts[0], tuple(owner_keys))


def declared_rules(network: Network) -> tuple[Rules, str]:
    """The rules the code declares for the network, and the hash of the config they come from."""
    from floor.adapters.registry import executor_setup

    chain = declared_chain(network)
    return Rules.declared(executor_setup(chain)), config_hash(chain)


def inputs_of(network: Network) -> Inputs:
    return Inputs(network.owner, network.operator, network.guardian, network.label)


def deploy(
    w3: Web3, network: Network, registry: Registry, keys: Keys | None, *, dry_run: bool = False, action: str = "deploy"
) -> Outcome:
    """Deploy the network's executor if it is not there and give it the declared rules."""
    _check_chain(w3, network)
    declared, cfg_hash = declared_rules(network)
    inputs = inputs_of(network)
    address = to_checksum_address(network.executor) if network.executor else inputs.address
    out = Outcome(network.name, address)

    if proxy_present(w3):
        out.steps.append(Step(f"deployment proxy present at {PROXY}"))
    else:
        out.steps.append(Step(f"deployment proxy missing at {PROXY}: its code is put there (local chain only)"))
        if not dry_run:
            install_proxy(w3)

    existing = code_hash(w3, address)
    deploy_tx: TxReceipt | None = None
    if existing is None and network.executor:
        raise DeployError(f"{network.name}: no code at its executor {address} (the network file's `executor`)")
    if existing is None:
        data = inputs.deploy_data()
        step = Step(f"deploy FloorExecutor at {address} (CREATE2, salt 0x{inputs.salt.hex()})", PROXY, len(data))
        out.steps.append(step)
        if not dry_run:
            if keys is None:
                raise DeployError("no keys to send the deployment with")
            deploy_tx = send(w3, keys.deployer, PROXY, data)
            step.sent = "0x" + bytes(deploy_tx["transactionHash"]).hex()
            if code_hash(w3, address) != runtime_code_hash():
                raise DeployError(f"the proxy's deployment left no FloorExecutor at {address}")
    elif existing != runtime_code_hash():
        raise DeployError(f"{address} holds other code ({existing}), not the compiled FloorExecutor's")
    else:
        out.steps.append(Step(f"FloorExecutor already at {address}"))

    if network.executor and not registry.entries:
        action = "adopt"  # an executor deployed outside this tool, recorded for the first time
    current = Rules() if existing is None else _on_chain(w3, address, registry, declared)
    applied = _apply(w3, network, registry, keys, address, current, declared, out, dry_run, "set the declared rules")
    if dry_run or not applied:
        return out
    tx = applied if not isinstance(applied, bool) else deploy_tx
    out.entry = _record(
        w3, network, registry, action, address, declared, cfg_hash, tx, deploy_tx, fresh=existing is None
    )
    return out


def rollback(w3: Web3, network: Network, registry: Registry, keys: Keys | None, *, dry_run: bool = False) -> Outcome:
    """Restore the rules of the registry's previous entry through the Safe, and record it."""
    _check_chain(w3, network)
    current_entry = registry.current()
    previous = registry.previous_rules()
    address = current_entry.address
    out = Outcome(network.name, address)
    out.steps.append(
        Step(f"roll back {network.name} from rules {current_entry.rules_hash} to {previous.rules_hash} ({previous.at})")
    )
    target = Rules.from_json(previous.rules)
    current = _on_chain(w3, address, registry, target)
    applied = _apply(w3, network, registry, keys, address, current, target, out, dry_run, "restore the previous rules")
    if dry_run or not applied:
        return out
    tx = applied if not isinstance(applied, bool) else None
    out.entry = _record(w3, network, registry, "rollback", address, target, previous.config_hash, tx, None, fresh=False)
    return out


def _on_chain(w3: Web3, address: str, registry: Registry, declared: Rules) -> Rules:
    """The executor's rules now, read at every key the code, the registry and its events name."""
    start = registry.entries[0].deployed_block if registry.entries else 0
    keys = [declared, *(e.declared for e in registry.entries), logged_keys(w3, address, start)]
    return read_executor(w3, address, keys).rules


def _apply(
    w3: Web3,
    network: Network,
    registry: Registry,
    keys: Keys | None,
    address: str,
    current: Rules,
    target: Rules,
    out: Outcome,
    dry_run: bool,
    purpose: str,
) -> TxReceipt | bool:
    """The owner's transactions from `current` to `target`: True when there is nothing to do,
    the receipt of the Safe's execTransaction, or False when they wait for the owners."""
    calls = current.transition(address, target)
    if not calls:
        out.steps.append(Step("rules already as declared: no owner transaction"))
        return True
    return _as_owner(w3, network, registry, keys, address, calls, out, dry_run, purpose)


def _as_owner(
    w3: Web3,
    network: Network,
    registry: Registry,
    keys: Keys | None,
    address: str,
    calls: Sequence[tuple[Call, str]],
    out: Outcome,
    dry_run: bool,
    purpose: str,
) -> TxReceipt | bool:
    """The owner's calls (each with what it does) as one Safe transaction: its receipt, True
    for a dry run of an owner that is an account, or False when they wait for the owners (the
    Transaction Builder's batch written) or it is a dry run."""
    for c, what in calls:
        out.steps.append(Step(f"  owner call: {what}", c.target, len(bytes.fromhex(c.data.removeprefix("0x")))))
    owner_calls = [c for c, _ in calls]
    safe = network.owner
    is_safe = bool(w3.eth.get_code(to_checksum_address(safe)))
    if not is_safe:
        # An owner that is an account (a local chain's stand-in): it sends each call itself.
        for c, _ in calls:
            step = Step(f"owner {safe} sends {c.data[:10]}", c.target, len(c.data) // 2 - 1)
            out.steps.append(step)
            if not dry_run:
                receipt = send(w3, safe, c.target, bytes.fromhex(c.data.removeprefix("0x")))
                step.sent = "0x" + bytes(receipt["transactionHash"]).hex()
        return dry_run or receipt
    nonce = safe_module.safe_nonce(w3, safe)
    tx = safe_module.batch(owner_calls, nonce)
    kind = "MultiSendCallOnly delegatecall" if tx.operation == safe_module.DELEGATE_CALL else "call"
    step = Step(
        f"Safe {safe} execTransaction (nonce {nonce}, {len(owner_calls)} call(s) as one {kind}) to {purpose}",
        safe,
        len(tx.data),
    )
    out.steps.append(step)
    threshold = safe_module.safe_threshold(w3, safe)
    if dry_run:
        return False
    # Owner keys given: they sign and the Safe judges (fewer than its threshold: GS020). None:
    # the owners sign in their own wallets, from the Transaction Builder's batch.
    if keys is None or not keys.owners:
        batch = safe_module.transaction_builder_json(
            network.chain_id, safe, owner_calls, f"floor {network.name}: {purpose}", f"executor {address}"
        )
        path = registry.path.with_name(f"{network.name}.safe-batch.json")
        out.steps.append(Step(f"wrote the Safe Transaction Builder batch for {threshold} owner(s) to sign: {path}"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(batch, indent=2) + "\n")
        out.batch_file = path
        return False
    digest = safe_module.safe_tx_hash(network.chain_id, safe, tx)
    signatures = [safe_module.sign_safe_tx(digest, k) for k in keys.owners]
    receipt = safe_module.exec_transaction(w3, safe, tx, signatures, keys.deployer)
    step.sent = "0x" + bytes(receipt["transactionHash"]).hex()
    return receipt


def _record(
    w3: Web3,
    network: Network,
    registry: Registry,
    action: str,
    address: str,
    rules: Rules,
    cfg_hash: str,
    tx: Any,
    deploy_tx: TxReceipt | None,
    *,
    fresh: bool,
) -> Entry:
    if deploy_tx is not None:
        deployed_block = int(deploy_tx["blockNumber"])
    elif registry.entries:
        deployed_block = registry.entries[0].deployed_block
    else:
        deployed_block = 0
    block = int(tx["blockNumber"]) if tx is not None else int(w3.eth.block_number)
    entry = Entry(
        action=action if fresh or action != "deploy" else "update",
        address=address,
        code_hash=runtime_code_hash(),
        rules_hash=rules.digest,
        config_hash=cfg_hash,
        block=block,
        transaction=("0x" + bytes(tx["transactionHash"]).hex()) if tx is not None else None,
        deployed_block=deployed_block,
        version=engine_version(),
        owner=network.owner,
        # A rotated operator (set_operator) is the registry's, not the network file's.
        operator=registry.latest.operator if registry.latest is not None else network.operator,
        guardian=network.guardian,
        rules=rules.as_json(),
        at=now(),
    )
    if registry.latest is not None and registry.latest.address != address:
        raise RegistryError(f"{network.name}: the registry's executor is {registry.latest.address}, this one {address}")
    registry.record(entry)
    return entry


def set_operator(
    w3: Web3,
    network: Network,
    registry: Registry,
    keys: Keys | None,
    new_operator: str,
    *,
    unpause: bool = False,
    dry_run: bool = False,
) -> Outcome:
    """Replace the executor's operator (and, with `unpause`, lift its pause) through the owner
    Safe, in one Safe transaction, and record the new operator in the registry. What the chain
    already holds is not sent again: a run after the owners signed the batch in their wallets
    only records it."""
    _check_chain(w3, network)
    entry = registry.current()
    address = entry.address
    new = to_checksum_address(new_operator)
    out = Outcome(network.name, address)
    roles = read_executor(w3, address, []).roles
    if not roles:
        raise DeployError(f"{network.name}: no code at the registry's executor {address}")
    operator, owner, guardian = roles["operator"], roles["owner"], roles["guardian"]
    paused_word = w3.eth.call(
        {"to": to_checksum_address(address), "data": HexStr("0x" + encode_call("paused()").hex())}
    )
    paused = any(bytes(paused_word))
    if new in (owner, guardian):
        role = "owner" if new == owner else "guardian"
        raise DeployError(f"{network.name}: the new operator {new} is the executor's {role}: a key of its own, please")
    calls: list[tuple[Call, str]] = []
    if operator != new:
        calls.append((call(address, "setOperator(address)", new), f"setOperator: {operator} -> {new}"))
    else:
        out.steps.append(Step(f"the executor's operator is {new} already: no setOperator"))
    if unpause and paused:
        calls.append((call(address, "unpause()"), "unpause: the executor runs batches again"))
    elif unpause:
        out.steps.append(Step("the executor is not paused: no unpause"))
    elif paused:
        out.steps.append(Step("the executor stays paused (no --unpause)"))
    applied: TxReceipt | bool = True
    if calls:
        applied = _as_owner(w3, network, registry, keys, address, calls, out, dry_run, f"set the operator to {new}")
    if dry_run or applied is False:
        return out
    if entry.operator == new and not calls:
        out.steps.append(Step(f"the registry records operator {new} already"))
        return out
    tx = applied if not isinstance(applied, bool) else None
    out.entry = replace(
        entry,
        action="set-operator",
        operator=new,
        block=int(tx["blockNumber"]) if tx is not None else int(w3.eth.block_number),
        transaction=("0x" + bytes(tx["transactionHash"]).hex()) if tx is not None else None,
        version=engine_version(),
        at=now(),
    )
    registry.record(out.entry)
    return out


def _check_chain(w3: Web3, network: Network) -> None:
    if w3.eth.chain_id != network.chain_id:
        raise DeployError(f"{network.name}: the RPC serves chain {w3.eth.chain_id}, not {network.chain_id}")


def send(w3: Web3, sender: Sender, to: str, data: bytes) -> TxReceipt:
    """Send from an address the node signs for (a local chain's account) or a key; wait for it."""
    address = to_checksum_address(sender if isinstance(sender, str) else sender.address)
    tx: TxParams = {"from": address, "to": to_checksum_address(to), "data": HexStr("0x" + data.hex()), "value": Wei(0)}
    tx["gas"] = w3.eth.estimate_gas(tx) * 6 // 5
    if isinstance(sender, str):
        tx_hash = w3.eth.send_transaction(tx)
    else:
        fees = {"maxPriorityFeePerGas": (tip := w3.eth.max_priority_fee)}
        base = w3.eth.get_block("pending").get("baseFeePerGas") or 0
        signable = {**tx, **fees, "maxFeePerGas": 2 * base + tip, "chainId": w3.eth.chain_id}
        signable["nonce"] = w3.eth.get_transaction_count(address, "pending")
        tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(signable).raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        raise DeployError(f"transaction {tx_hash.hex()} to {to} reverted")
    return receipt


def account_of(key: str) -> str:
    return str(Account.from_key(key).address)


def owner_call_list(calls: Sequence[tuple[Call, str]]) -> list[Call]:
    return [c for c, _ in calls]
