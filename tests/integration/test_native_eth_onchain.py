"""Native ETH staking through the executor on the session's chain 1, with the deposit contract
and EIP-7002 stand-ins at their mainnet addresses and the Beacon API stand-in
(`floor.devnet.beacon`, served from a thread) reading that chain.

A validator with good deposit data is funded from WETH in one batch (32 ETH leaves the
executor; the deposit count and root move as the real contract's do, checked against the SSZ
list root computed here); bad deposit data (wrong root, credentials paying someone else, a wrong
amount, another network's fork version) is refused before anything is sent, and the executor
and the contract refuse such deposits on chain too. The validator's balance grows with the
chain's time and is the position; an exit is requested through EIP-7002 paying the fee read
from the predeploy, and shows as queued with its wait."""

from __future__ import annotations

import dataclasses
import threading
import urllib.error
import urllib.request

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from web3.exceptions import ContractLogicError

from activities.chain import ChainActivities
from activities.deps import Deps
from floor.adapters.registry import AdapterRegistry
from floor.calls import call, selector
from floor.chain.attester import attest_deposits, deposits_in
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.config import Settings
from floor.devnet.beacon import BeaconStandIn, Chain, serve
from floor.devnet.deploy import configure_executor
from floor.devnet.processes import free_port
from floor.devnet.stack import GUARDIAN_ACCOUNT, anvil_account_key
from floor.models import AdapterKey
from floor.protocols.native_eth import deposit_data as dd
from floor.protocols.native_eth.adapter import DEPOSIT, DEPOSIT_WEI, call_raw, withdrawal_request_data
from floor.protocols.native_eth.attestation import ATTEST_DEPOSIT
from floor.protocols.native_eth.beacon import BeaconClient
from floor.protocols.native_eth.config import MAINNET_DEPOSIT_CONTRACT, WITHDRAWAL_REQUEST_PREDEPLOY
from floor.protocols.native_eth.errors import (
    AttesterNotConfigured,
    BadDepositData,
    DepositDataRootMismatch,
    DepositExists,
    ExitFeeTooLow,
    ExitNotPossible,
    WrongDepositAmount,
    WrongForkVersion,
    WrongWithdrawalCredentials,
)
from floor.protocols.native_eth.position import beacon_view, exits
from floor.protocols.native_eth.validators import EPOCH_S, FAR_FUTURE_EPOCH
from tests.integration.helpers import advance_time, balance, contract, mint
from workers.attester import Attester
from workers.attester import serve as serve_attester

KEY = AdapterKey(chain_id=1, protocol="native-eth", market="validators")
APR = 0.05
YEAR = 365 * 24 * 3600
GWEI = 10**9
SYSTEM = "0xffffFFFfFFffffffffffffffFfFFFfffFFFfFFfE"


def fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-7002's (and EIP-4844's) fake_exponential."""
    i, output, accum = 1, 0, factor * denominator
    while accum > 0:
        output += accum
        accum = accum * numerator // (denominator * i)
        i += 1
    return output // denominator


def deposit_root(leaves: list[bytes]) -> bytes:
    """hash_tree_root(List[DepositData, 2**32]): the deposit contract's get_deposit_root."""
    zero = [bytes(32)]
    for _ in range(32):
        zero.append(dd.sha256(zero[-1] + zero[-1]))
    layer = list(leaves)
    for height in range(32):
        if len(layer) % 2:
            layer.append(zero[height])
        layer = [dd.sha256(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
    node = layer[0] if layer else zero[32]
    return dd.sha256(node + len(leaves).to_bytes(8, "little") + bytes(24))


@pytest.fixture(scope="module")
def keys():
    return [1001, 1002]


@pytest.fixture
def native(stack, settings, web3s, signer, tmp_path, keys):
    chain = settings.chain(1)
    w3 = web3s[1]
    executor = chain.executor
    entries = [dd.make(k, executor) for k in keys]
    path = dd.write(tmp_path / "deposit_data-1700000000.json", entries)
    adapter = dataclasses.replace(AdapterRegistry.from_settings(settings).get(KEY), deposit_data=str(path))
    # The owner registers the new validators (their deposit roots) and lists their exits.
    configure_executor(w3, executor, adapter.permissions())
    beacon = BeaconStandIn(Chain(stack.chains[1].rpc_url), apr=APR)
    port = free_port()
    server = serve(beacon, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "w3": w3,
            "executor": executor,
            "adapter": adapter,
            "entries": entries,
            "client": ExecutorClient(w3, 1, executor, signer),
            "reader": MulticallReader(w3, chain.multicall3),
            "beacon": BeaconClient(f"http://127.0.0.1:{port}"),
            "stand_in": beacon,
            "signer": signer,
        }
    finally:
        server.shutdown()
        server.server_close()


def deposit_contract(w3):
    return contract(w3, "BeaconDepositContract", MAINNET_DEPOSIT_CONTRACT)


def nonce(n) -> int:
    return n["w3"].eth.get_transaction_count(n["signer"].address)


def attested(n, calls):
    """`calls` after the attester's vouching (the devnet's attester is the guardian's key): it
    checks the beacon node and the deposit contract's logs, as the engine's attester does."""
    deposits = deposits_in(calls, {MAINNET_DEPOSIT_CONTRACT.lower()})
    a = attest_deposits(
        n["w3"], n["beacon"], MAINNET_DEPOSIT_CONTRACT, n["executor"], 1, deposits, anvil_account_key(GUARDIAN_ACCOUNT)
    )
    return [a.call(n["executor"]), *calls]


def stake_one(n) -> None:
    mint(n["w3"], n["adapter"].asset.address, n["executor"], DEPOSIT_WEI)
    n["client"].execute(attested(n, n["adapter"].deposit_calls(DEPOSIT_WEI, n["executor"])))


def test_the_stand_ins_are_at_their_mainnet_addresses_and_market_config(settings, web3s):
    w3 = web3s[1]
    market = next(m for m in settings.chain(1).markets if m.adapter == "native_eth")
    assert (market.deposit_contract, market.withdrawal_request) == (
        MAINNET_DEPOSIT_CONTRACT,
        WITHDRAWAL_REQUEST_PREDEPLOY,
    )
    assert market.asset == "WETH" and market.deposit_data is None
    assert all(m.adapter != "native_eth" for m in settings.chain(42161).markets)
    dc = deposit_contract(w3)
    assert dc.functions.get_deposit_root().call() == deposit_root([])  # zero_hashes were copied
    assert dc.functions.get_deposit_count().call() == bytes(8)
    fee = w3.eth.call({"to": WITHDRAWAL_REQUEST_PREDEPLOY, "data": "0x"})
    assert int.from_bytes(fee, "big") == 1  # MIN_WITHDRAWAL_REQUEST_FEE at excess 0


def test_a_validator_with_good_deposit_data_is_funded_from_weth_in_one_batch(native):
    w3, executor, adapter = native["w3"], native["executor"], native["adapter"]
    first = native["entries"][0]
    weth = adapter.asset.address
    mint(w3, weth, executor, DEPOSIT_WEI + 5)
    locked = w3.eth.get_balance(MAINNET_DEPOSIT_CONTRACT)
    dc = deposit_contract(w3)
    root_before = dc.functions.get_deposit_root().call()

    calls = attested(native, adapter.deposit_calls(DEPOSIT_WEI, executor))
    record = native["client"].execute(calls)

    assert record.status == 1 and record.calls == 3  # the attestation, the unwrap, the deposit
    assert balance(w3, weth, executor) == 5  # 32 ETH of WETH unwrapped...
    assert w3.eth.get_balance(executor) == 0  # ...and all of it deposited
    assert w3.eth.get_balance(MAINNET_DEPOSIT_CONTRACT) == locked + DEPOSIT_WEI
    assert dc.functions.get_deposit_count().call() == (1).to_bytes(8, "little")
    root = dc.functions.get_deposit_root().call()
    assert root != root_before and root == deposit_root([first.deposit_data_root])
    (log,) = dc.events.DepositEvent().get_logs(from_block=record.block_number, to_block=record.block_number)
    assert (log.args.pubkey, log.args.withdrawal_credentials) == (first.pubkey, first.withdrawal_credentials)
    assert (log.args.amount, log.args.index) == ((32 * GWEI).to_bytes(8, "little"), bytes(8))

    # The next deposit takes the next validator of the file, not the same one again.
    native["adapter"] = adapter = beacon_view(native["reader"], native["beacon"], adapter)
    assert [d.pubkey for d in adapter.pending()] == [native["entries"][1].pubkey]
    mint(w3, weth, executor, DEPOSIT_WEI)
    native["client"].execute(attested(native, adapter.deposit_calls(DEPOSIT_WEI, executor)))
    assert dc.functions.get_deposit_count().call() == (2).to_bytes(8, "little")
    # Once deposited, the attester vouches for it no more: the beacon node and the logs know it.
    with pytest.raises(DepositExists, match="a deposit exists for validator"):
        attested(native, dataclasses.replace(adapter, beacon=None).deposit_calls(DEPOSIT_WEI, executor))
    assert dc.functions.get_deposit_root().call() == deposit_root([e.deposit_data_root for e in native["entries"]])


def test_bad_deposit_data_is_refused_before_sending(native, tmp_path):
    w3, executor, adapter = native["w3"], native["executor"], native["adapter"]
    mint(w3, adapter.asset.address, executor, 2 * DEPOSIT_WEI)
    good = native["entries"][0]
    bad = {
        DepositDataRootMismatch: dataclasses.replace(good, deposit_data_root=bytes(32)),
        WrongWithdrawalCredentials: dd.make(2001, "0x000000000000000000000000000000000000dEaD"),
        WrongDepositAmount: dd.make(2002, executor, amount_gwei=31 * GWEI),
        WrongForkVersion: dd.make(2003, executor, fork_version=bytes.fromhex("01017000"), network_name="holesky"),
    }
    sent, weth, count = (
        nonce(native),
        balance(w3, adapter.asset.address, executor),
        deposit_contract(w3).functions.get_deposit_count().call(),
    )
    for error, entry in bad.items():
        path = dd.write(tmp_path / f"deposit_data-{error.__name__}.json", [entry])
        with pytest.raises(error):
            dataclasses.replace(adapter, deposit_data=str(path)).deposit_calls(DEPOSIT_WEI, executor)
    with pytest.raises(WrongDepositAmount):
        adapter.deposit_calls(DEPOSIT_WEI // 2, executor)
    assert nonce(native) == sent  # nothing signed, nothing sent
    assert balance(w3, adapter.asset.address, executor) == weth and w3.eth.get_balance(executor) == 0
    assert deposit_contract(w3).functions.get_deposit_count().call() == count


def test_the_executor_and_the_contract_refuse_bad_deposits_on_chain_too(native):
    """Past the engine's checks (a stolen operator key building calls by hand): the executor
    refuses credentials that do not pay it, the contract a wrong root; no nonce is used."""
    w3, executor, adapter = native["w3"], native["executor"], native["adapter"]
    mint(w3, adapter.asset.address, executor, DEPOSIT_WEI)
    unwrap = call(adapter.asset.address, "withdraw(uint256)", DEPOSIT_WEI)
    sent = nonce(native)

    thief = dd.make(3001, "0x000000000000000000000000000000000000dEaD")
    stolen = call(
        MAINNET_DEPOSIT_CONTRACT,
        DEPOSIT,
        thief.pubkey,
        thief.withdrawal_credentials,
        thief.signature,
        thief.deposit_data_root,
        value=DEPOSIT_WEI,
    )
    with pytest.raises(ExecutionReverted, match="ArgumentNotAllowed"):
        native["client"].execute([unwrap, stolen])

    good = native["entries"][0]
    wrong_root = call(
        MAINNET_DEPOSIT_CONTRACT,
        DEPOSIT,
        good.pubkey,
        good.withdrawal_credentials,
        good.signature,
        bytes(32),
        value=DEPOSIT_WEI,
    )
    with pytest.raises(ExecutionReverted, match=r"ArgumentNotAllowed\(call 1: argument 3"):
        native["client"].execute([unwrap, wrong_root])  # not a registered validator's root

    # Non-canonical ABI encoding that points the credentials elsewhere is refused as well.
    head = bytes.fromhex(stolen.data[2:10])
    body = encode(
        ["bytes", "bytes", "bytes", "bytes32"],
        [good.pubkey, good.withdrawal_credentials, good.signature, good.deposit_data_root],
    )
    # Point withdrawal_credentials (head word 1) at the pubkey's bytes (offset 0x80).
    twisted = body[:32] + (0x80).to_bytes(32, "big") + body[64:]
    with pytest.raises(ExecutionReverted, match="ArgumentNotAllowed"):
        native["client"].execute([unwrap, stolen.model_copy(update={"data": "0x" + (head + twisted).hex()})])
    assert nonce(native) == sent


def test_the_validators_balance_grows_with_time_and_is_the_position(native):
    w3, executor = native["w3"], native["executor"]
    stake_one(native)
    beacon, reader = native["beacon"], native["reader"]
    pubkey = native["entries"][0].pubkey

    view = beacon_view(reader, beacon, native["adapter"])
    (v,) = view.beacon.validators
    assert (v.status, v.balance, v.exit_epoch) == ("pending_initialized", 32 * GWEI, FAR_FUTURE_EPOCH)
    assert beacon.validator("0x" + pubkey.hex()).index == 0  # the one-validator endpoint agrees
    assert beacon.validator("9") is None  # a 404 from the API

    advance_time(w3, 7 * EPOCH_S)  # past activation: deposit epoch + 6
    view = beacon_view(reader, beacon, native["adapter"])
    (v,) = view.beacon.validators
    assert v.status == "active_ongoing"
    activated_at = beacon.genesis().genesis_time + v.activation_epoch * EPOCH_S

    requests_before = beacon.requests
    advance_time(w3, 30 * 24 * 3600)
    view = beacon_view(reader, beacon, native["adapter"])
    assert beacon.requests == requests_before + 1  # one request for all the market's validators
    (position,) = read_positions(reader, [view], executor)
    now = w3.eth.get_block("latest")["timestamp"]
    expected_gwei = 32 * GWEI + 32 * GWEI * round(APR * 10**6) * (now - activated_at) // (10**6 * YEAR)
    assert position.amount == expected_gwei * GWEI  # gwei -> wei, plus the executor's ETH (none)
    assert position.amount > DEPOSIT_WEI + DEPOSIT_WEI * 4 // 1000  # about 30 days at 5%

    advance_time(w3, 10 * 24 * 3600)
    later = read_positions(reader, [beacon_view(reader, beacon, native["adapter"])], executor)[0]
    assert later.amount > position.amount
    # Without the beacon snapshot the engine's plain read sees only the executor's ETH.
    assert read_positions(reader, [native["adapter"]], executor)[0].amount == 0


def test_an_exit_pays_eip7002s_current_fee_and_shows_as_queued(native):
    w3, executor, reader, beacon = native["w3"], native["executor"], native["reader"], native["beacon"]
    stake_one(native)
    advance_time(w3, 7 * EPOCH_S)
    pubkey = native["entries"][0].pubkey

    # Excess requests raise the fee; the engine reads it from the predeploy first.
    w3.provider.make_request(
        "anvil_setStorageAt", [WITHDRAWAL_REQUEST_PREDEPLOY, "0x0", "0x" + (60).to_bytes(32, "big").hex()]
    )
    view = beacon_view(reader, beacon, native["adapter"])
    assert view.exit_fee == fake_exponential(1, 60, 17) > 1
    with pytest.raises(ExitFeeTooLow):
        view.exit_calls([pubkey], fee=view.exit_fee - 1)
    sent = nonce(native)
    # Underpaid on chain (past the engine's check), the predeploy reverts: nothing is sent.
    underpaid = call_raw(WITHDRAWAL_REQUEST_PREDEPLOY, withdrawal_request_data(pubkey), value=view.exit_fee - 1)
    w3.provider.make_request("anvil_setBalance", [executor, hex(view.exit_fee)])
    with pytest.raises(ExecutionReverted, match="CallFailed"):
        native["client"].execute([underpaid])
    assert nonce(native) == sent

    kept = w3.eth.get_balance(WITHDRAWAL_REQUEST_PREDEPLOY)
    record = native["client"].execute(view.withdraw_all_calls(None, executor))
    assert record.status == 1
    assert w3.eth.get_balance(WITHDRAWAL_REQUEST_PREDEPLOY) == kept + view.exit_fee
    assert w3.eth.get_balance(executor) == 0
    (log,) = w3.eth.get_logs(
        {"address": WITHDRAWAL_REQUEST_PREDEPLOY, "fromBlock": record.block_number, "toBlock": record.block_number}
    )
    assert bytes(log["data"]) == bytes.fromhex(executor[2:]) + pubkey + bytes(8)  # source ++ pubkey ++ amount 0
    assert log["topics"] == []
    # The consensus layer's dequeue (a system call) gives the 76-byte record, amount little-endian.
    queued = w3.eth.call({"from": SYSTEM, "to": WITHDRAWAL_REQUEST_PREDEPLOY, "data": "0x"})
    assert bytes(queued) == bytes.fromhex(executor[2:]) + pubkey + bytes(8)

    view = beacon_view(reader, beacon, native["adapter"])
    (v,) = view.beacon.validators
    request_epoch = view.beacon.epoch
    assert v.status == "active_exiting"
    assert (v.exit_epoch, v.withdrawable_epoch) == (request_epoch + 5, request_epoch + 5 + 256)
    (queued_exit,) = exits(view)
    assert queued_exit.status == "active_exiting" and queued_exit.balance == v.balance_wei
    assert queued_exit.expected_wait_s == view.beacon.exit_wait_s(v) >= 261 * EPOCH_S
    with pytest.raises(ExitNotPossible, match="active_exiting"):
        view.exit_calls([pubkey], fee=view.exit_fee)  # one exit is enough

    advance_time(w3, 6 * EPOCH_S)
    exited = beacon_view(reader, beacon, native["adapter"]).beacon.validators[0]
    advance_time(w3, 10 * EPOCH_S)
    still = beacon_view(reader, beacon, native["adapter"])
    assert exited.status == still.beacon.validators[0].status == "exited_unslashed"
    assert still.beacon.validators[0].balance == exited.balance  # no rewards once exited
    advance_time(w3, 256 * EPOCH_S)
    done = beacon_view(reader, beacon, native["adapter"])
    assert done.beacon.validators[0].status == "withdrawal_possible"
    assert exits(done)[0].expected_wait_s < queued_exit.expected_wait_s


def test_an_exit_request_from_another_address_does_not_exit_the_validator(native):
    """EIP-7002 takes anyone's request and fee; the consensus layer acts only on the
    validator's withdrawal address (the executor), so a stranger's request changes nothing."""
    w3 = native["w3"]
    stake_one(native)
    advance_time(w3, 7 * EPOCH_S)
    pubkey = native["entries"][0].pubkey
    stranger = w3.eth.accounts[5]
    tx = w3.eth.send_transaction(
        {
            "from": stranger,
            "to": WITHDRAWAL_REQUEST_PREDEPLOY,
            "data": "0x" + withdrawal_request_data(pubkey).hex(),
            "value": 1,
        }
    )
    assert w3.eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1
    (v,) = beacon_view(native["reader"], native["beacon"], native["adapter"]).beacon.validators
    assert v.status == "active_ongoing" and v.exit_epoch == FAR_FUTURE_EPOCH


def test_the_predeploy_refuses_bad_calls_as_the_real_one_does(web3s):
    w3 = web3s[1]
    sender = w3.eth.accounts[5]
    for data, value in (("0x", 1), ("0x" + "ab" * 55, 1), ("0x" + "ab" * 56, 0)):
        with pytest.raises(ContractLogicError):
            w3.eth.call({"from": sender, "to": WITHDRAWAL_REQUEST_PREDEPLOY, "data": data, "value": value})
    assert keccak(w3.eth.get_code(WITHDRAWAL_REQUEST_PREDEPLOY)) != keccak(b"")
    assert decode(["uint256"], w3.eth.call({"to": WITHDRAWAL_REQUEST_PREDEPLOY, "data": "0x"})) == (1,)


def test_compounding_0x02_credentials_pass_the_executors_check(native, tmp_path):
    w3, executor, adapter = native["w3"], native["executor"], native["adapter"]
    compounding = dd.make(4001, executor, prefix=b"\x02")
    path = dd.write(tmp_path / "deposit_data-0x02.json", [compounding])
    mint(w3, adapter.asset.address, executor, DEPOSIT_WEI)
    compounding_adapter = dataclasses.replace(adapter, deposit_data=str(path))
    configure_executor(w3, executor, compounding_adapter.permissions())  # registered by the owner
    calls = attested(native, compounding_adapter.deposit_calls(DEPOSIT_WEI, executor))
    assert native["client"].execute(calls).status == 1
    (log,) = deposit_contract(w3).events.DepositEvent().get_logs(from_block=w3.eth.block_number)
    assert log.args.withdrawal_credentials[:1] == b"\x02"


def test_the_engine_asks_the_attester_process_and_its_deposit_goes_through(native, settings, tmp_path):
    """The worker's side (`ChainActivities._attested`) asks `floor-attester` over HTTP; the
    attester checks the beacon node and the logs, signs, and the batch stakes. Asked again
    for the same key, it refuses by name (409); bad requests get 400."""
    w3, executor, adapter = native["w3"], native["executor"], native["adapter"]
    data = settings.model_dump(mode="json", exclude={"signer", "flashbots_reputation_key"})
    market = next(m for m in data["chains"][0]["markets"] if m["adapter"] == "native_eth")
    market["deposit_data"] = adapter.deposit_data
    market["beacon_api_url"] = native["beacon"].url
    port = free_port()
    data["attester"] = {"url": f"http://127.0.0.1:{port}", "key": {"private_key": anvil_account_key(GUARDIAN_ACCOUNT)}}
    configured = Settings.model_validate(data)
    server = serve_attester(Attester(configured), "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        chains = ChainActivities(Deps(configured, native["signer"], {1: w3, 42161: w3}))
        mint(w3, adapter.asset.address, executor, DEPOSIT_WEI)
        (group,) = chains._attested(1, [adapter.deposit_calls(DEPOSIT_WEI, executor)])
        assert group[0].target == executor and group[0].data.startswith("0x" + selector(ATTEST_DEPOSIT).hex())
        assert native["client"].execute(group).status == 1
        with pytest.raises(DepositExists, match="a deposit exists for validator"):
            chains._attested(1, [adapter.deposit_calls(DEPOSIT_WEI, executor)])
        # Credentials paying someone else: the attester recomputes and refuses to vouch.
        thief = dd.make(5001, "0x000000000000000000000000000000000000dEaD")
        theirs = call(
            MAINNET_DEPOSIT_CONTRACT,
            DEPOSIT,
            thief.pubkey,
            thief.withdrawal_credentials,
            thief.signature,
            thief.deposit_data_root,
            value=DEPOSIT_WEI,
        )
        with pytest.raises(BadDepositData, match="do not pay"):
            chains._attested(1, [[theirs]])
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/attest", data=b'{"chain_id": 1, "deposits": []}', method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(request, timeout=10)
        assert bad.value.code == 400 and b"deposits: 1 to 16" in bad.value.read()
    finally:
        server.shutdown()
        server.server_close()
    unconfigured = ChainActivities(Deps(settings, native["signer"], {1: w3, 42161: w3}))
    with pytest.raises(AttesterNotConfigured, match="set attester.url"):
        unconfigured._attested(1, [adapter.deposit_calls(DEPOSIT_WEI, executor)])
