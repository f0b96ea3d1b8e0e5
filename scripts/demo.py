"""`make demo`: the whole engine on a local stack, end to end.

Starts Temporal (Web UI) and two anvil chains (1 and 42161), deploys the contracts (each
executor owned by a 2-of-3 Safe), starts the testnet's chain (11155111: `floor deploy testnet`,
then `floor deploy promote testnet mainnet`, mainnet being chain 1), writes
state/floor.toml, funds a demo treasury (1,550,000 USDC and 318 WETH across the two chains'
executors, about $2.5M), starts a worker (which starts the EngineWorkflow), then drives the
engine as an operator does, with the `floor` command line: `schedules apply`, `allocate` (the
executors' idle funds, by the strategy's fractions of the total value, across every protocol),
`positions` (read back from the chains), `risk liquidity`, `risk check`, `reconcile` and `status`.
Monitoring runs beside it: floor-exporter (the engine's metrics, from the store), Prometheus
(Debian's; `make demo` installs it) scraping the worker, its Temporal SDK metrics, the exporter
and the admin API, with the alert rules, and Alertmanager (Debian's) receiving the alerts.
The engine stays running, allocated, with its schedules. `make down` stops it all.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import stack
import tomli_w
from eth_account import Account

from floor.chain.rpc import connect
from floor.config import load_settings
from floor.devnet import alertmanager
from floor.devnet.context import anvil_account_key as owner_key
from floor.devnet.deploy import chain_permissions, configure_executor, deploy_chain, fund, prepare_network
from floor.devnet.owner import LOCAL_SAFE, OWNER_ACCOUNTS, THRESHOLD
from floor.devnet.processes import StackError
from floor.devnet.prometheus import JOBS, Prometheus, rule_files_in, scrape_config, scrape_targets, start_prometheus
from floor.devnet.stack import GUARDIAN_ACCOUNT, anvil_account_key, fund_signer
from floor.protocols.native_eth import deposit_data as dd
from floor.txqueue import queue_id

# The demo treasury, in whole tokens, per chain: about $2.5M at the local feeds' prices
# (USDC $1, ETH $3,000), held so that every target below can be met from what its chain holds.
TREASURY = {(1, "USDC"): 1_225_000, (1, "WETH"): 284, (42161, "USDC"): 325_000, (42161, "WETH"): 34}

# Strategy: bps of the floor's total value per market (`weights_of = "total"`), the floor's
# default split: lending 50% (Aave V3 20, Compound V3 15, Morpho Blue 10, Spark 5), staking
# 30% (Lido 19, Rocket Pool 7, native ETH 4), stable LP 20% (Convex 12, Curve 5, Balancer 3).
# Native ETH stakes whole 32 ETH validators: its 4% (about 33 ETH) is one validator, with
# deposit data the demo makes for a demo key (never a real key: the deposit CLI is for
# those), registered by the executor's owner and vouched for by the attester. Each
# protocol's risk score caps its weight too.
STRATEGY = [
    (1, "aave-v3", "USDC", 600),
    (1, "aave-v3", "WETH", 400),
    (42161, "aave-v3", "USDC", 600),
    (42161, "aave-v3", "WETH", 400),
    (1, "compound-v3", "cUSDCv3", 800),
    (42161, "compound-v3", "cUSDCv3", 700),
    (1, "morpho-blue", "USDC-WETH-86", 1_000),
    (1, "spark", "USDC", 500),
    (1, "lido", "stETH", 1_900),
    (1, "native-eth", "validators", 400),
    (1, "rocket-pool", "rETH", 700),
    (1, "convex", "crvUSD-USDC", 1_200),
    (1, "curve", "3pool", 500),
    (1, "balancer-v2", "USDC-DAI stable", 300),
]

DEMO_VALIDATOR_KEY = 4242  # a demo BLS secret key: public, for the local chain only

CONFIG = stack.STATE / "floor.toml"
KEYSTORE = stack.STATE / "signer-keystore.json"
PASSWORD_FILE = stack.STATE / "signer-keystore.password"


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def write_keystore(keystore: Path, password_file: Path) -> str:
    """A fresh key in an encrypted keystore; the password in a 0600 file beside it. Its address."""
    account = Account.create()
    password = secrets.token_urlsafe(24)
    keystore.write_text(json.dumps(Account.encrypt(account.key, password)))
    password_file.write_text(password)
    os.chmod(keystore, 0o600)
    os.chmod(password_file, 0o600)
    return account.address


def make_command_keys() -> dict[str, str]:
    """The demo's command keys, one per role (admin, operator, viewer): their addresses. The
    admin is the config's founding ADMIN; it grants the operator and the viewer their roles
    once the engine runs (signed commands: `floor roles grant`)."""
    return {role: write_keystore(keystore, password) for role, (keystore, password) in stack.COMMAND_KEYS.items()}


def key_args(role: str) -> tuple[str, ...]:
    """The command line's options that sign with the demo's `role` key."""
    keystore, password = stack.COMMAND_KEYS[role]
    return ("--key", str(keystore), "--password-file", str(password))


def write_config(ports: stack.Ports, deployed: dict, admins: list[str]) -> None:
    config = {
        "engine_name": "floor-demo",
        "temporal": {
            "address": f"127.0.0.1:{ports.temporal}",
            "namespace": "default",
            "task_queue": "floor-engine",
            "ui_url": f"http://127.0.0.1:{ports.ui}",
        },
        # Depths a mainnet operator uses: Ethereum counts a receipt two blocks deep (one-block
        # reorgs happen under proof of stake, deeper ones rarely); Arbitrum's sequencer orders
        # blocks itself, so one. Both follow settled transactions until `finalized`.
        "chains": [
            d.chain_config(f"http://127.0.0.1:{ports.chains[cid]}", confirmations=2 if cid == 1 else 1)
            for cid, d in deployed.items()
        ],
        "metrics": {
            "port": ports.metrics,
            "exporter_port": ports.exporter,
            "temporal_port": ports.temporal_metrics,
            "prometheus_url": f"http://127.0.0.1:{ports.prometheus}",
            "alertmanager_url": f"http://127.0.0.1:{ports.alertmanager}",
        },
        "strategy": {
            "targets": [{"chain_id": c, "protocol": p, "market": m, "weight_bps": w} for c, p, m, w in STRATEGY],
        },
    }
    # Chain 1's large moves go through the local relay (above 10 ETH-equivalent), as on mainnet.
    config["chains"][0]["flashbots"] = {"relay_url": f"http://127.0.0.1:{ports.relay}"}
    # The deposit attester the worker asks before staking a validator (its key: the guardian's).
    config["attester"] = {"url": f"http://127.0.0.1:{ports.attester}", "port": ports.attester}
    # Who may command the engine: the demo's admin key (state/admin-keystore.json) founds its role book.
    config["access"] = {"admins": admins}
    config["api"] = {"port": ports.api}  # the admin API (floor-api)
    CONFIG.write_text("# Generated by `make demo`: the local stack's deployed addresses.\n" + tomli_w.dumps(config))


def register_validator(w3, chain) -> None:
    """Deposit data for one demo validator paying chain 1's executor, named in the native ETH
    market's config, and registered by the executor's owner (its deposit root and exit)."""
    entry = dd.make(DEMO_VALIDATOR_KEY, chain.executor)
    path = dd.write(stack.STATE / "deposit_data-demo.json", [entry])
    market = next(m for m in chain.markets if m["adapter"] == "native_eth")
    market["deposit_data"] = str(path)
    configure_executor(w3, chain.executor, chain_permissions(chain))


def start_attester() -> subprocess.Popen:
    env = os.environ | {"FLOOR_ATTESTER__KEY__PRIVATE_KEY": anvil_account_key(GUARDIAN_ACCOUNT)}
    log = open(stack.LOGS / "attester.log", "ab")  # noqa: SIM115 (the attester writes to it after we return)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.attester", "--config", str(CONFIG)],
        cwd=stack.REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.write_pid("attester", proc.pid)
    return proc


def start_worker() -> subprocess.Popen:
    """The worker as `make worker` restarts it: the config and the signer's keystore in state/."""
    if (stack.CONFIG, stack.KEYSTORE, stack.PASSWORD_FILE) != (CONFIG, KEYSTORE, PASSWORD_FILE):
        raise SystemExit("the demo and scripts/stack.py disagree on the config or keystore paths")
    return stack.start_worker()


def start_exporter() -> subprocess.Popen:
    """`floor-exporter` on the demo's config (its port: metrics.exporter_port): every
    floor_engine_* series, read from the store and the engine's status."""
    log = open(stack.LOGS / "exporter.log", "ab")  # noqa: SIM115 (the exporter writes to it after we return)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.exporter", "--config", str(CONFIG)],
        cwd=stack.REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.write_pid("exporter", proc.pid)
    return proc


# The demo scrapes every 5 s (production: deploy/prometheus/prometheus.yml, 15 s): the exporter
# polls the engine as often (metrics.poll_s).
DEMO_SCRAPE_S = 5


def start_alertmanager(ports: stack.Ports) -> str:
    """Alertmanager on ports.alertmanager with deploy/alertmanager's routes and groupings; its
    URL. The demo runs no mail server, Slack or PagerDuty: its receivers are loopback addresses
    that take nothing (SMTP on port 25, a path Alertmanager itself answers 404), so a
    notification fails and is logged (state/logs/alertmanager.log), while the alerts and their
    silences are in Alertmanager's UI and `floor alerts`."""
    nowhere = f"http://127.0.0.1:{ports.alertmanager}/nowhere"  # answers 404: not delivered
    destinations = alertmanager.Destinations.loopback(smtp_port=25, slack_url=nowhere, pagerduty_url=nowhere)
    data_dir = stack.STATE / "alertmanager"
    shutil.rmtree(data_dir, ignore_errors=True)
    running = alertmanager.start_alertmanager(
        alertmanager.render_config(destinations), ports.alertmanager, data_dir, stack.LOGS
    )
    stack.write_pid("alertmanager", running.pid)
    return running.url


def start_monitoring(ports: stack.Ports, settings) -> tuple[Prometheus, str]:
    """Alertmanager, and Prometheus on ports.prometheus scraping the worker, its Temporal SDK
    metrics, the exporter and the admin API, with deploy/prometheus/rules, sending to that
    Alertmanager; their data in state/ (fresh each run, as the chains are)."""
    alertmanager_url = start_alertmanager(ports)
    data_dir = stack.STATE / "prometheus"
    shutil.rmtree(data_dir, ignore_errors=True)
    config = scrape_config(
        scrape_targets(settings, api_port=ports.api),
        scrape_interval_s=DEMO_SCRAPE_S,
        alertmanager_url=alertmanager_url,
        rule_files=rule_files_in(REPO / "deploy" / "prometheus" / "rules"),
    )
    prometheus = start_prometheus(config, ports.prometheus, data_dir, stack.LOGS)
    stack.write_pid("prometheus", prometheus.pid)
    return prometheus, alertmanager_url


def floor_cli(*args: str, worker: subprocess.Popen, timeout_s: float = 300) -> None:
    """Run the `floor` command line as an operator would; stop the demo if it fails."""
    command = [str(Path(sys.executable).parent / "floor"), *args, "--config", str(CONFIG)]
    print(f"$ floor {' '.join(args)}", flush=True)
    try:
        code = subprocess.run(command, timeout=timeout_s).returncode
    except subprocess.TimeoutExpired:
        raise StackError(
            f"`floor {args[0]}` did not finish within {timeout_s}s; see {stack.LOGS / 'worker.log'}"
        ) from None
    if code != 0:
        alive = "" if worker.poll() is None else f" (the worker exited with code {worker.returncode})"
        raise StackError(f"`floor {' '.join(args)}` exited with {code}{alive}; see {stack.LOGS / 'worker.log'}")


def print_deployment(ports: stack.Ports) -> None:
    """Where `floor deploy` runs beside the demo: the testnet's chain, then chain 1 as mainnet."""
    testnet, mainnet = f"http://127.0.0.1:{ports.testnet}", f"http://127.0.0.1:{ports.chains[1]}"
    print(
        f"Testnet chain ({stack.TESTNET_CHAIN_ID}, deploy/networks/testnet.toml): {testnet}; mainnet "
        f"(deploy/networks/mainnet.toml) is chain 1: {mainnet}. Every executor's owner is the Safe {LOCAL_SAFE}"
    )
    keys = ",".join(owner_key(i) for i in OWNER_ACCOUNTS[:THRESHOLD])
    urls = f"FLOOR_TESTNET_RPC_URL={testnet} FLOOR_MAINNET_RPC_URL={mainnet}"
    print(
        f"  (anvil's accounts {', '.join(map(str, OWNER_ACCOUNTS))}, {THRESHOLD} of 3 sign). Try, its registry in state/deployments:"
    )
    print(f"  export FLOOR_DEPLOY_REGISTRY_DIR=state/deployments FLOOR_SAFE_OWNER_KEYS={keys} {urls}")
    print("  floor deploy testnet; floor deploy verify testnet; floor deploy promote testnet mainnet")
    print("  (promotion is refused, naming the gate, until docs/soak/summary.json shows a finished clean soak)")


def main() -> int:
    ports = stack.Ports.from_env()
    step("starting Temporal (Web UI), two anvil chains and the testnet's chain")
    stack.up(ports)
    stack.STATE.mkdir(exist_ok=True)
    step("creating the engine's signer and the command keys of an admin, an operator, a viewer (keystores in state/)")
    operator = write_keystore(KEYSTORE, PASSWORD_FILE)
    command_keys = make_command_keys()
    write_keystore(stack.SCHEDULER_KEYSTORE, stack.SCHEDULER_PASSWORD_FILE)  # the worker's scheduler service
    step("deploying tokens, Multicall3, the protocols' stand-ins and the executor")
    deployed = {}
    for chain_id, port in ports.chains.items():
        w3 = connect([f"http://127.0.0.1:{port}"])
        deployed[chain_id] = deploy_chain(w3, chain_id, operator)
        fund_signer(w3, operator)
        amounts = {
            sym: whole * 10 ** deployed[chain_id].tokens[sym][1]
            for (cid, sym), whole in TREASURY.items()
            if cid == chain_id
        }
        fund(w3, deployed[chain_id], deployed[chain_id].executor, amounts)
        if chain_id == 1:
            register_validator(w3, deployed[chain_id])
    step(f"the testnet's chain ({stack.TESTNET_CHAIN_ID}): Multicall3 and the owner Safe, for `floor deploy testnet`")
    prepare_network(connect([f"http://127.0.0.1:{ports.testnet}"]))
    write_config(ports, deployed, admins=[command_keys["admin"]])
    settings = load_settings(CONFIG)
    step("starting the deposit attester (floor-attester), the worker (floor-worker) and the admin API (floor-api)")
    start_attester()
    worker = start_worker()
    stack.start_api()
    step(
        "starting floor-exporter (the engine's metrics) and Prometheus (scraping the worker, its Temporal "
        "SDK metrics, the exporter and the API), with Alertmanager"
    )
    start_exporter()
    prometheus, alertmanager_url = start_monitoring(ports, settings)
    step("configuring the engine (the worker started it) and its schedules, signed by the admin's key")
    floor_cli("schedules", "apply", *key_args("admin"), worker=worker)
    step("the admin grants the operator and the viewer their roles (signed commands)")
    for role in ("operator", "viewer"):
        grant = ("roles", "grant", command_keys[role], role.upper(), "--name", f"demo {role}")
        floor_cli(*grant, "--reason", "the demo's team", *key_args("admin"), worker=worker)
    step("allocating the demo treasury through the engine (signed by the operator): 1,550,000 USDC and 318 WETH")
    floor_cli("allocate", "--reason", "demo treasury", *key_args("operator"), worker=worker)
    step(
        "positions, read back from the chains: amount, value, APY (quoted by the protocol, or measured "
        "once a market has 6 h of history), withdrawable, exit slippage"
    )
    floor_cli("positions", worker=worker)
    step("liquidity risk per position, and the circuit breakers after a risk check")
    floor_cli("risk", "liquidity", worker=worker)
    floor_cli("risk", "check", *key_args("operator"), worker=worker)
    step("reconciling the engine's records with the chains (its reading is what the metrics show)")
    floor_cli("reconcile", worker=worker)
    floor_cli("status", worker=worker)
    prometheus.wait_scraped([job for job in JOBS if job != "floor-watchdog"], timeout_s=60)
    print()
    print(f"Temporal Web UI: {settings.temporal.ui_url}/namespaces/{settings.temporal.namespace}/workflows")
    print(f"The engine ({settings.engine_id}) keeps running with its schedules. Try: .venv/bin/floor status,")
    print("  floor rebalance, floor harvest, floor pause --reason drill, floor resume --reason done, floor history")
    operator_keystore, operator_password = (path.relative_to(REPO) for path in stack.COMMAND_KEYS["operator"])
    print(
        f"  (the commands that change the engine are signed: export FLOOR_KEY={operator_keystore}"
        f' FLOOR_KEY_PASSWORD="$(cat {operator_password})", or the admin\'s for configure, roles, breakers).'
    )
    print(f"Its transactions go through the signer's queues: {queue_id(1, operator)} and {queue_id(42161, operator)}.")
    print(
        f"Chain 1's large moves went through the local relay ({stack.LOGS}/relay-1.log); the queue's "
        "`status` query shows its private route."
    )
    print(f"Metrics (the base-fee predictor scored live): http://127.0.0.1:{ports.metrics}/metrics")
    print(
        f"Engine metrics (floor-exporter): http://127.0.0.1:{ports.exporter}/metrics   "
        f"Temporal SDK metrics: http://127.0.0.1:{ports.temporal_metrics}/metrics"
    )
    print(f"Prometheus: {prometheus.url} (targets: {prometheus.url}/targets, alerts: {prometheus.url}/alerts)")
    print(f"Alertmanager: {alertmanager_url} (`floor alerts list`; notifications go nowhere in the demo)")
    print("Grafana dashboards: deploy/grafana/*.json, to import into a Grafana (deploy/grafana/README.md)")
    print(f"Admin API: http://127.0.0.1:{ports.api} (OpenAPI at /docs; sign in with Ethereum, or POST signed commands)")
    print(
        f"Dashboard: http://127.0.0.1:{ports.api}/ui/ (sign in with your browser wallet: an address in the role book)"
    )
    print("Command keys for `floor sign` (each an encrypted keystore, its password in the file beside it):")
    for role, address in command_keys.items():
        keystore, password = stack.COMMAND_KEYS[role]
        held = "the config's founding ADMIN" if role == "admin" else f"{role.upper()}, granted by the admin"
        print(f"  {role:<8} {address}  {keystore}  {password.name}  ({held})")
    admin_keystore, admin_password = (path.relative_to(REPO) for path in stack.COMMAND_KEYS["admin"])
    print(f"  Try: floor sign pause --field reason=drill --key {admin_keystore} --password-file {admin_password}")
    print_deployment(ports)
    print(f"Config: {CONFIG}   Logs: {stack.LOGS}/   Stop everything: make down")
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except StackError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # A process that used a Temporal client can crash at interpreter exit (sdk-python#300).
    os._exit(code)
