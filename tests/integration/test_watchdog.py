"""The watchdog (`floor/watchdog.py`) on the anvil chains with a real store, SQLite and
PostgreSQL: the engine's own executes pass, one sent with the operator key outside the queue
gets the executor paused by the guardian, a restart resumes from its cursor, one far behind
a node that keeps recent state only reads its way back, a rotated operator key is watched for
the blocks it held the role, bad config is refused by name."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tomli_w
from eth_account import Account
from prometheus_client import REGISTRY

from activities.deps import Deps
from floor.chain.executor import ExecutorClient, encode_execute
from floor.chain.signer import LocalKeySigner, signer_from_config
from floor.config import ConfigError, Settings, SignerConfig, WatchdogConfig, load_settings
from floor.devnet.artifacts import load_artifact
from floor.devnet.owner import as_owner
from floor.devnet.processes import STATES_IN_MEMORY
from floor.devnet.stack import GUARDIAN_ACCOUNT, anvil_account_key
from floor.store import Store
from floor.watchdog import FOREIGN, Watchdog, WatchdogError
from scripts.bench.queue_driver import QueueDriver
from tests.integration.queue_helpers import approve_intent
from tests.store.conftest import postgres, store_url  # noqa: F401 (fixtures: both databases)
from workers.temporal import build_worker

GUARDIAN_KEY = anvil_account_key(GUARDIAN_ACCOUNT)
ENV = {"PATH": "/usr/bin:/bin"}  # the subprocess reads no FLOOR_* from this environment


@pytest.fixture
def store(store_url):  # noqa: F811
    with Store(store_url) as s:
        s.migrate()
        yield s


def watching(settings: Settings, web3s, store: Store, **config) -> Watchdog:
    """A watchdog over chain 1 holding the guardian's key (anvil account 3): what
    `floor-watchdog` builds, with this test's store."""
    watchdog = WatchdogConfig(guardian=SignerConfig(private_key=GUARDIAN_KEY), chains=[1], grace_s=0.1, **config)
    settings = settings.model_copy(update={"watchdog": watchdog})
    dog = Watchdog(settings, store, signer_from_config(watchdog.guardian), web3s)
    dog.check_roles()
    return dog


def executor(settings, web3s):
    return web3s[1].eth.contract(address=settings.chain(1).executor, abi=load_artifact("FloorExecutor").abi)


def foreign_execute(settings, web3s, signer) -> str:
    """An execute sent with the operator key outside the queue: the leaked key at work."""
    calls = approve_intent(settings, "attacker", amount=1).calls
    return ExecutorClient(web3s[1], 1, settings.chain(1).executor, signer).execute(calls).tx_hash.lower()


def reverted_execute(settings, web3s, signer) -> str:
    """An execute with the operator key that reverts (the executor is paused): mined, no logs."""
    calls = approve_intent(settings, "attacker-again", amount=2).calls
    data = "0x" + encode_execute(calls).hex()
    return sent_by_key(web3s[1], signer, settings.chain(1).executor, data=data, gas=300_000, status=0)


def sent_by_key(w3, signer, to: str, *, data: str = "0x", value: int = 0, gas: int, status: int) -> str:
    """A transaction signed with `signer`'s key outside the queue, mined with `status`: its hash."""
    tip = 10**9
    tx = {
        "type": 2,
        "chainId": 1,
        "to": to,
        "data": data,
        "value": value,
        "nonce": w3.eth.get_transaction_count(signer.address),
        "gas": gas,
        "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + tip,
        "maxPriorityFeePerGas": tip,
    }
    signed = signer.sign_transaction(tx)
    w3.eth.send_raw_transaction(signed.raw)
    assert w3.eth.wait_for_transaction_receipt(signed.hash)["status"] == status
    return signed.hash.lower()


def foreign_alerts(store: Store) -> dict[str, str]:
    return {a.subject: a.detail for a in store.open_alerts() if a.kind == FOREIGN}


def pauses(settings, web3s, since: int) -> list[str]:
    """Who paused chain 1's executor since block `since` (its Paused events' `by`)."""
    return [e["args"]["by"] for e in executor(settings, web3s).events.Paused().get_logs(from_block=since)]


def foreign_count() -> float:
    return REGISTRY.get_sample_value("floor_watchdog_foreign_transactions_total", {"chain_id": "1"}) or 0


async def test_the_engines_own_execute_is_not_foreign(temporal_env, settings, web3s, signer, task_queue, store):
    w3 = web3s[1]
    dog = watching(settings, web3s, store)
    assert dog.poll_once() == []  # the first pass puts the cursor at the head
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s, store=store)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        intent = approve_intent(settings, f"{task_queue}/approve", amount=5)
        assert (await driver.send(intent)).accepted
        outcome = await driver.outcome(intent.id)
    assert outcome.ok
    mined = outcome.transaction
    # Seen (an execute from the operator, in the blocks the pass covers) and known: the queue
    # recorded its hash when it signed it.
    (suspect,) = dog.watches[0]._suspects(mined.block_number, mined.block_number)
    assert (suspect.tx_hash, suspect.execute) == (mined.tx_hash.lower(), True)
    assert dog.poll_once() == []
    assert store.watchdog_cursor(1, settings.chain(1).executor) >= mined.block_number
    assert not executor(settings, web3s).functions.paused().call()
    assert foreign_alerts(store) == {}
    assert w3.eth.get_block("latest")["number"] == store.watchdog_cursor(1, settings.chain(1).executor)


def test_a_foreign_execute_is_alerted_and_the_guardian_pauses(settings, web3s, signer, store, log_text):
    w3 = web3s[1]
    start = w3.eth.block_number
    dog = watching(settings, web3s, store)
    dog.poll_once()
    counted = foreign_count()
    tx_hash = foreign_execute(settings, web3s, signer)

    (finding,) = dog.poll_once()
    assert (finding.suspect.tx_hash, finding.suspect.execute, finding.outcome) == (tx_hash, True, "paused")
    guardian = Account.from_key(GUARDIAN_KEY).address
    assert executor(settings, web3s).functions.paused().call()
    assert pauses(settings, web3s, start) == [guardian]
    assert w3.eth.get_transaction(finding.pause_tx)["from"] == guardian
    detail = foreign_alerts(store)[f"1:{tx_hash}"]
    assert "did not sign" in detail and f"paused the executor (transaction {finding.pause_tx})" in detail
    assert foreign_count() == counted + 1
    assert '"level": "critical"' in log_text.getvalue() and tx_hash in log_text.getvalue()


def test_a_restart_resumes_from_its_cursor(settings, web3s, signer, store):
    w3 = web3s[1]
    start = w3.eth.block_number
    watching(settings, web3s, store).poll_once()
    first = foreign_execute(settings, web3s, signer)
    assert [f.outcome for f in watching(settings, web3s, store).poll_once()] == ["paused"]

    # Restarted: the blocks it handled are not handled again.
    assert watching(settings, web3s, store).poll_once() == []
    assert list(foreign_alerts(store)) == [f"1:{first}"]
    # Down while the key is used again (reverted: the executor is paused): found on restart,
    # alerted, and the executor not paused a second time.
    second = reverted_execute(settings, web3s, signer)
    (finding,) = watching(settings, web3s, store).poll_once()
    assert (finding.suspect.tx_hash, finding.suspect.execute, finding.outcome) == (second, True, "already_paused")
    assert "already paused" in foreign_alerts(store)[f"1:{second}"]
    assert len(pauses(settings, web3s, start)) == 1


def test_a_watchdog_down_longer_than_the_node_keeps_state_reads_its_way_back(settings, web3s, signer, store):
    """The local chains keep the state of their last 256 blocks, as a full node keeps its last
    128: the blocks of a pass far behind the head are read, never the state at them; who was
    the operator then comes from the key's later rotation."""
    w3 = web3s[1]
    contract = executor(settings, web3s)
    watching(settings, web3s, store).poll_once()
    execute = foreign_execute(settings, web3s, signer)
    transfer = send_eth(w3, signer)  # the operator key, no execute: found only as the operator's
    w3.provider.make_request("anvil_mine", [STATES_IN_MEMORY + 200])
    as_owner(w3, contract.address, [contract.functions.setOperator(w3.eth.accounts[8])])
    dog = watching(settings, web3s, store, max_blocks=50)  # the first pass ends 400 blocks behind
    findings = []
    while (cursor := store.watchdog_cursor(1, settings.chain(1).executor)) < w3.eth.block_number:
        findings += dog.poll_once()
        assert store.watchdog_cursor(1, settings.chain(1).executor) > cursor  # every pass moves on
    assert [(f.suspect.tx_hash, f.outcome) for f in findings] == [(execute, "paused"), (transfer, "already_paused")]


def test_a_rotated_operator_key_is_watched_for_the_blocks_it_held_the_role(settings, web3s, signer, store):
    w3 = web3s[1]
    contract = executor(settings, web3s)
    watching(settings, web3s, store).poll_once()
    before = send_eth(w3, signer)  # the operator key, outside the queue
    successor = w3.eth.accounts[8]
    as_owner(w3, contract.address, [contract.functions.setOperator(successor)])
    after = send_eth(w3, signer)  # a retired key: no longer the operator's business
    successor_tx = w3.eth.send_transaction({"from": successor, "to": successor, "value": 1}).hex()
    found = {f.suspect.tx_hash for f in watching(settings, web3s, store).poll_once()}
    assert before in found and ("0x" + successor_tx.removeprefix("0x")).lower() in found
    assert after not in found


def send_eth(w3, signer) -> str:
    """One wei to itself, with the operator key: no execute, found only as the operator's."""
    return sent_by_key(w3, signer, signer.address, value=1, gas=21_000, status=1)


def test_bad_config_is_refused_by_name(settings, web3s, signer, operator_key, store, tmp_path):
    config = tmp_path / "floor.toml"

    def write(watchdog: dict, **more) -> None:
        data = settings.model_dump(mode="json", exclude_none=True) | {"watchdog": watchdog} | more
        config.write_text(tomli_w.dumps(data))

    write({"poll_interval_s": 0, "grace_s": -1, "chains": [999], "guardian": {"private_key": GUARDIAN_KEY}})
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert set(refused.value.problems) == {
        "watchdog.poll_interval_s: Input should be greater than 0 (got 0)",
        "watchdog.grace_s: Input should be greater than or equal to 0 (got -1)",
    }
    write({"chains": [999]})
    with pytest.raises(ConfigError, match=r"watchdog\.chains\.0: no chain with id 999 \(chains: 1, 42161\)"):
        load_settings(config)
    write({"guardian": {"private_key": operator_key}}, signer={"private_key": operator_key})
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert refused.value.problems == ["watchdog.guardian.private_key: must not be the signer's (operator's) key"]
    assert operator_key.removeprefix("0x") not in str(refused.value)

    # A key that is not the executor's guardian: its pause would revert, so it does not start.
    stranger = LocalKeySigner.from_private_key(Account.create().key.hex())
    dog = Watchdog(settings.model_copy(update={"watchdog": WatchdogConfig(chains=[1])}), store, stranger, web3s)
    with pytest.raises(WatchdogError, match=r"has guardian 0x90F79bf6EB2c4f870365E785982E1f101E93b906, not the"):
        dog.check_roles()

    # The process without a guardian key says what to set.
    write({"chains": [1]})
    ran = subprocess.run(
        [sys.executable, "-m", "workers.watchdog", "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert ran.returncode == 1
    assert "floor-watchdog: watchdog.guardian: the guardian key is required" in ran.stderr
