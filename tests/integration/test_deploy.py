"""`floor deploy` against two real anvil chains: the testnet (chain id 11155111, standing for
Sepolia) and the mainnet (chain id 1), each with a USDC, its Chainlink feed, an ERC-4626 vault
and the Safe 1.4.1 contracts, the executor owned by a 2-of-3 Safe.

Deploy to the testnet, verify, promote to the mainnet (same CREATE2 address), change a rule
through the Safe (one signature is refused: GS020), verify, roll back and verify the previous
rules; a dry run sends nothing; promotion is refused by the gate that fails; a worker whose
executor's rules differ from the code refuses to start, naming the difference in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from eth_account import Account
from typer.testing import CliRunner
from web3 import Web3

from cli.main import app
from floor.calls import call
from floor.chain.executor import ExecutionReverted, ExecutorClient
from floor.chain.rpc import FallbackHTTPProvider, connect
from floor.chain.signer import LocalKeySigner
from floor.config import Settings, load_settings
from floor.deploy import safe as safe_module
from floor.deploy.apply import Keys, declared_rules, deploy
from floor.deploy.create2 import PROXY
from floor.deploy.network import load_network
from floor.deploy.registry import load_registry
from floor.deploy.verify import logged_keys, refuse_mismatched_executors
from floor.devnet.context import Deployer, deploy_feed
from floor.devnet.deploy import install_multicall3
from floor.devnet.processes import free_port, start_anvil, stop_process
from floor.devnet.stack import anvil_account_key
from floor.store import Store

NETWORKS = {"testnet": 11155111, "mainnet": 1}
SOAK = {"cycles": 336, "cycles_planned": 336, "invariant_failures": 0, "faults": {}, "finished_at": "", "version": "t"}
OWNER_ACCOUNTS = (5, 6, 7)  # the Safe's three owners (anvil's accounts): 2 of them sign
GUARDIAN_ACCOUNT, TREASURY_ACCOUNT, SECOND_DESTINATION = 3, 4, 8
OPERATOR = Account.from_key("0x" + "42" * 32).address  # the engine's signer (only its address matters)


@dataclass
class Net:
    name: str
    chain_id: int
    w3: Web3
    rpc_url: str
    config: Path
    file: Path
    safe: str
    store_url: str


def _chain_section(net_name: str, chain_id: int, rpc_url: str, d: Deployer) -> dict:
    usdc = d.deploy("TestERC20", "USD Coin", "USDC", 6)
    feed = deploy_feed(d, "USDC / USD", 10**8)
    vault = d.deploy("ERC4626Vault", usdc.address, "Vault USDC", "vUSDC", d.admin)
    return {
        "id": chain_id,
        "name": net_name,
        "rpc_urls": [rpc_url],
        "destinations": [d.w3.eth.accounts[TREASURY_ACCOUNT]],
        "price_feeds": {"USDC": {"feed": feed.address, "heartbeat_s": 86_400}},
        "tokens": [{"symbol": "USDC", "address": usdc.address, "decimals": 6}],
        "markets": [
            {"protocol": "vault", "adapter": "erc4626", "market": "USDC", "asset": "USDC", "vault": vault.address}
        ],
    }


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    """Both chains, each with its tokens, feed, vault, Safe contracts and the owners' Safe; the
    network files and engine configs in a directory of the module's own."""
    base = tmp_path_factory.mktemp("deploy")
    write_soak(base, SOAK)  # a finished, clean soak: the soak gate passes
    procs, nets = [], {}
    try:
        for name, chain_id in NETWORKS.items():
            port = free_port()
            procs.append(start_anvil(port, chain_id, base / f"anvil-{name}.log"))
            rpc_url = f"http://127.0.0.1:{port}"
            w3 = connect([rpc_url])
            install_multicall3(w3)
            d = Deployer(w3)
            chain = _chain_section(name, chain_id, rpc_url, d)
            contracts = safe_module.deploy_safe_contracts(w3, w3.eth.accounts[0])
            owners = [w3.eth.accounts[i] for i in OWNER_ACCOUNTS]
            safe = safe_module.create_safe(w3, contracts, owners, 2, 0)
            store_url = f"sqlite:///{base / f'{name}.db'}"
            config = base / f"{name}.floor.toml"
            config.write_text(tomli_w.dumps({"chains": [chain], "store": {"url": store_url}}))
            Store(store_url).migrate()
            file = base / f"{name}.toml"
            file.write_text(
                tomli_w.dumps(
                    {
                        "name": name,
                        "chain_id": chain_id,
                        "rpc_url": rpc_url,
                        "config": config.name,
                        "owner": safe,
                        "operator": OPERATOR,
                        "guardian": w3.eth.accounts[GUARDIAN_ACCOUNT],
                        "soak_summary": "soak-summary.json",
                    }
                )
            )
            nets[name] = Net(name, chain_id, w3, rpc_url, config, file, safe, store_url)
        yield nets
    finally:
        for proc in procs:
            stop_process(proc)


def write_soak(base: Path, summary: dict) -> None:
    (base / "soak-summary.json").write_text(json.dumps(summary))


@pytest.fixture(autouse=True)
def revert_chains(request):
    """Each test starts from the chains as the module fixture left them."""
    if "chains" not in request.fixturenames:
        yield
        return
    nets = request.getfixturevalue("chains")
    snapshots = {n: net.w3.provider.make_request("evm_snapshot", [])["result"] for n, net in nets.items()}
    configs = {n: net.config.read_text() for n, net in nets.items()}
    yield
    for n, net in nets.items():
        assert net.w3.provider.make_request("evm_revert", [snapshots[n]])["result"]
        net.config.write_text(configs[n])
        store = Store(net.store_url)
        for alert in store.open_alerts():
            store.resolve_alert(alert.kind, alert.subject, alert.raised_at)


def owner_keys(count: int) -> str:
    return ",".join(anvil_account_key(i) for i in OWNER_ACCOUNTS[:count])


def floor(tmp_path: Path, *args: str, signatures: int = 2):
    """`floor deploy ARGS` in process, its registry in the test's directory."""
    env = {"FLOOR_DEPLOY_REGISTRY_DIR": str(tmp_path / "deployments"), "FLOOR_SAFE_OWNER_KEYS": owner_keys(signatures)}
    return CliRunner().invoke(app, ["deploy", *args], env=env, catch_exceptions=False)


def change_config(net: Net, **chain_changes) -> None:
    data = load_settings(net.config).model_dump(mode="json", exclude_none=True, include={"chains", "store"})
    data["chains"][0].update(chain_changes)
    net.config.write_text(tomli_w.dumps(data))


def nonces(net: Net, deployer: str) -> tuple[int, int, int]:
    w3 = net.w3
    safe_nonce = safe_module.safe_nonce(w3, net.safe)
    return w3.eth.get_transaction_count(deployer), safe_nonce, w3.eth.block_number


def test_deploy_verify_promote_change_and_roll_back(chains, tmp_path):
    testnet, mainnet = chains["testnet"], chains["mainnet"]

    ran = floor(tmp_path, str(testnet.file))
    assert ran.exit_code == 0, ran.output
    assert "deploy FloorExecutor at" in ran.output and "execTransaction" in ran.output
    registry = json.loads((tmp_path / "deployments" / "testnet.json").read_text())
    (entry,) = registry["deployments"]
    assert entry["action"] == "deploy" and entry["rules_hash"].startswith("0x") and entry["transaction"]
    assert entry["code_hash"] == "0x" + Web3.keccak(testnet.w3.eth.get_code(entry["address"])).hex().removeprefix("0x")
    assert testnet.w3.eth.get_code(PROXY)

    ran = floor(tmp_path, "verify", str(testnet.file))
    assert ran.exit_code == 0, ran.output
    assert "matches the registry and the code" in ran.output

    # Promotion: the gates pass, the mainnet executor lands at the testnet's address.
    ran = floor(tmp_path, "promote", str(testnet.file), str(mainnet.file))
    assert ran.exit_code == 0, ran.output
    assert "gate verified: passed" in ran.output and "gate alerts: passed" in ran.output
    assert "gate soak: passed: 336 cycles" in ran.output
    promoted = json.loads((tmp_path / "deployments" / "mainnet.json").read_text())["deployments"][-1]
    assert promoted["action"] == "promote" and promoted["address"] == entry["address"]
    assert floor(tmp_path, "verify", str(mainnet.file)).exit_code == 0

    # A rule change through the Safe: a second destination and a tighter loss bound.
    second = mainnet.w3.eth.accounts[SECOND_DESTINATION]
    change_config(
        mainnet, destinations=[mainnet.w3.eth.accounts[TREASURY_ACCOUNT], second], loss_bound={"max_loss_bps": 100}
    )
    ran = floor(tmp_path, "verify", str(mainnet.file))
    assert ran.exit_code == 1
    assert f"{second} is missing on the registry, the code lists it" in ran.output
    assert "loss bound: maxLossBps 150 on the registry, 100 by the code" in ran.output

    before = nonces(mainnet, mainnet.w3.eth.accounts[0])
    ran = floor(tmp_path, str(mainnet.file), signatures=1)  # one signature of the two the Safe needs
    assert ran.exit_code == 1
    assert "GS020" in ran.output
    assert nonces(mainnet, mainnet.w3.eth.accounts[0])[1] == before[1]  # the Safe ran nothing

    ran = floor(tmp_path, str(mainnet.file))
    assert ran.exit_code == 0, ran.output
    assert "setListed: 1 member(s) added" in ran.output and "setLossBound: 100 bps" in ran.output
    assert floor(tmp_path, "verify", str(mainnet.file)).exit_code == 0
    executor = promoted["address"]
    assert mainnet.w3.eth.contract(executor, abi=_abi()).functions.lossBound().call()[0] == 100

    # Roll back: the previous rules return, through the Safe, and are recorded.
    ran = floor(tmp_path, "rollback", str(mainnet.file))
    assert ran.exit_code == 0, ran.output
    assert "setListed: 1 member(s) removed" in ran.output
    entries = json.loads((tmp_path / "deployments" / "mainnet.json").read_text())["deployments"]
    assert [e["action"] for e in entries] == ["promote", "update", "rollback"]
    assert entries[-1]["rules_hash"] == entries[0]["rules_hash"]
    ran = floor(tmp_path, "verify", str(mainnet.file))
    assert ran.exit_code == 1  # the code still declares the change: the registry differs from it
    assert "the registry" in ran.output and "the code" in ran.output and "the chain" not in ran.output
    change_config(mainnet, destinations=[mainnet.w3.eth.accounts[TREASURY_ACCOUNT]], loss_bound={"max_loss_bps": 150})
    ran = floor(tmp_path, "verify", str(mainnet.file))
    assert ran.exit_code == 0, ran.output
    assert mainnet.w3.eth.contract(executor, abi=_abi()).functions.lossBound().call()[0] == 150

    # The executor's history is read in windows: a provider that refuses wide eth_getLogs
    # ranges, as hosted ones do, gets the same keys.
    narrow = Web3(NarrowLogsProvider([mainnet.rpc_url]))
    deployed = entries[0]["deployed_block"]
    assert logged_keys(narrow, executor, deployed, window=3) == logged_keys(mainnet.w3, executor, deployed)
    with pytest.raises(Exception, match="range"):
        logged_keys(narrow, executor, deployed)


class NarrowLogsProvider(FallbackHTTPProvider):
    """An RPC that refuses eth_getLogs over more than 3 blocks (hosted providers bound it)."""

    def make_request(self, method, params):
        if method == "eth_getLogs":
            query = params[0]
            first, last = (
                int(query[k], 16) if isinstance(query[k], str) else query[k] for k in ("fromBlock", "toBlock")
            )
            if last - first + 1 > 3:
                return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "block range too wide"}}
        return super().make_request(method, params)


def test_set_operator_rotates_the_key_through_the_safe(chains, tmp_path):
    """A leaked operator key: the guardian paused the executor; the owners replace the operator
    and unpause in one Safe transaction; the registry records the new operator and verify
    compares the chain with it. The old key executes nothing from then on."""
    testnet = chains["testnet"]
    w3 = testnet.w3
    assert floor(tmp_path, str(testnet.file)).exit_code == 0
    registry = tmp_path / "deployments" / "testnet.json"
    executor = json.loads(registry.read_text())["deployments"][0]["address"]
    old, new = (LocalKeySigner.from_private_key("0x" + b * 32) for b in ("42", "43"))
    for key in (old, new):
        w3.provider.make_request("anvil_setBalance", [key.address, hex(10**18)])
    contract = w3.eth.contract(executor, abi=_abi())
    contract.functions.pause().transact({"from": w3.eth.accounts[GUARDIAN_ACCOUNT]})  # the watchdog's answer
    args = ("set-operator", str(testnet.file), new.address, "--unpause")

    before = nonces(testnet, w3.eth.accounts[0])
    ran = floor(tmp_path, *args, "--dry-run")
    assert ran.exit_code == 0, ran.output
    assert "dry run: nothing is sent" in ran.output and f"setOperator: {old.address} -> {new.address}" in ran.output
    assert "unpause: the executor runs batches again" in ran.output and "MultiSendCallOnly" in ran.output
    assert nonces(testnet, w3.eth.accounts[0]) == before
    assert contract.functions.operator().call() == old.address and contract.functions.paused().call()
    assert len(json.loads(registry.read_text())["deployments"]) == 1

    ran = floor(tmp_path, *args, signatures=0)  # no owner keys: the batch for the owners' wallets
    assert ran.exit_code == 0 and "waiting for the owners" in ran.output, ran.output
    batch = json.loads((tmp_path / "deployments" / "testnet.safe-batch.json").read_text())
    assert [t["to"] for t in batch["transactions"]] == [executor, executor]
    assert nonces(testnet, w3.eth.accounts[0]) == before

    ran = floor(tmp_path, *args)
    assert ran.exit_code == 0, ran.output
    assert f"recorded: set-operator at block {w3.eth.block_number}, operator {new.address}" in ran.output
    assert safe_module.safe_nonce(w3, testnet.safe) == before[1] + 1  # one Safe transaction
    first, rotated = json.loads(registry.read_text())["deployments"]
    assert (rotated["action"], rotated["operator"], rotated["address"]) == ("set-operator", new.address, executor)
    assert rotated["rules_hash"] == first["rules_hash"] and rotated["transaction"]
    assert contract.functions.operator().call() == new.address and not contract.functions.paused().call()
    ran = floor(tmp_path, "verify", str(testnet.file))
    assert ran.exit_code == 0, ran.output

    chain = load_settings(testnet.config).chain(testnet.chain_id)
    approve = [call(chain.token("USDC").address, "approve(address,uint256)", chain.markets[0].vault, 1)]
    with pytest.raises(ExecutionReverted, match="NotOperator"):
        ExecutorClient(w3, testnet.chain_id, executor, old).execute(approve)
    assert ExecutorClient(w3, testnet.chain_id, executor, new).execute(approve).status == 1

    # A chain that differs from the registry is still reported: the operator put back behind its back.
    calls = [call(executor, "setOperator(address)", old.address)]
    tx = safe_module.batch(calls, safe_module.safe_nonce(w3, testnet.safe))
    digest = safe_module.safe_tx_hash(testnet.chain_id, testnet.safe, tx)
    signatures = [safe_module.sign_safe_tx(digest, k) for k in owner_keys(2).split(",")]
    safe_module.exec_transaction(w3, testnet.safe, tx, signatures, w3.eth.accounts[0])
    ran = floor(tmp_path, "verify", str(testnet.file))
    assert ran.exit_code == 1
    assert f"operator: the chain has {old.address}, expected {new.address}" in ran.output


def _abi():
    from floor.devnet.artifacts import load_artifact

    return load_artifact("FloorExecutor").abi


def test_a_dry_run_sends_nothing(chains, tmp_path):
    testnet = chains["testnet"]
    deployer = testnet.w3.eth.accounts[0]
    before = nonces(testnet, deployer)
    ran = floor(tmp_path, str(testnet.file), "--dry-run")
    assert ran.exit_code == 0, ran.output
    assert "dry run: nothing is sent" in ran.output
    assert "deploy FloorExecutor at" in ran.output and "bytes)" in ran.output
    assert "setRules" in ran.output and "setAssets" in ran.output and "execTransaction" in ran.output
    assert nonces(testnet, deployer) == before
    address = load_network(str(testnet.file))
    assert not (tmp_path / "deployments" / "testnet.json").exists()
    assert address.name == "testnet"


def test_promotion_is_refused_by_the_gate_that_fails(chains, tmp_path):
    testnet, mainnet = chains["testnet"], chains["mainnet"]
    write_soak(mainnet.file.parent, SOAK | {"cycles": 12, "cycles_planned": 12})
    ran = floor(tmp_path, "promote", str(testnet.file), str(mainnet.file))
    write_soak(mainnet.file.parent, SOAK)
    assert ran.exit_code == 1
    assert (
        "promotion refused: gate verified, soak failed: testnet: no deployment of testnet is recorded; "
        "12 of 336 cycles" in " ".join(ran.output.split())
    )

    assert floor(tmp_path, str(testnet.file)).exit_code == 0
    Store(testnet.store_url).raise_alert("chain_state", "11155111:vault:USDC", "position differs", _now())
    ran = floor(tmp_path, "promote", str(testnet.file), str(mainnet.file))
    assert ran.exit_code == 1
    assert "promotion refused: gate alerts failed" in " ".join(ran.output.split())
    assert "gate verified: passed" in ran.output
    assert not mainnet.w3.eth.get_code(
        json.loads((tmp_path / "deployments" / "testnet.json").read_text())["deployments"][0]["address"]
    )


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_a_worker_refuses_an_executor_whose_rules_differ(chains, tmp_path):
    testnet = chains["testnet"]
    network = load_network(str(testnet.file))
    registry = load_registry("testnet", testnet.chain_id, tmp_path)
    keys = Keys(testnet.w3.eth.accounts[0], owner_keys(2).split(","))
    executor = deploy(testnet.w3, network, registry, keys).address
    declared, _ = declared_rules(network)
    assert declared.rules

    # The code now declares a second destination the executor does not list.
    second = testnet.w3.eth.accounts[SECOND_DESTINATION]
    data = load_settings(testnet.config).model_dump(mode="json", exclude_none=True, include={"chains", "store"})
    data["chains"][0] |= {"executor": executor, "destinations": [*data["chains"][0]["destinations"], second]}
    data["signer"] = {"private_key": "0x" + "42" * 32}
    config = tmp_path / "worker.toml"
    config.write_text(tomli_w.dumps(data))
    settings = load_settings(config)
    with pytest.raises(SystemExit) as refused:
        refuse_mismatched_executors(settings, enabled=True)
    line = str(refused.value)
    assert "\n" not in line
    assert f"the executor {executor} on chain 11155111 does not match the code" in line
    assert second in line

    if "deploy" in Settings.model_fields:  # the worker reads deploy.verify_on_start from its config
        config.write_text(tomli_w.dumps(data | {"deploy": {"verify_on_start": True}}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}
        worker = Path(sys.executable).parent / "floor-worker"
        done = subprocess.run(
            [str(worker), "--config", str(config)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        assert "refusing to start" in done.stderr and second in done.stderr
