"""The Lido (stETH, wstETH, WithdrawalQueueERC721) and Rocket Pool (RocketStorage, deposit pool,
rETH, network balances) stand-ins on a fresh anvil of their own: each protocol's arithmetic is
reproduced here in Python from its source (stETH's shares and Lido's fee, the queue's
finalisation at min(request rate, report rate), rETH's reported exchange rate and deposit fee)
and must match the chain to the wei, and the reverts are the real ones (the queue's custom
errors, Lido's and Rocket Pool's strings)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_abi import encode
from eth_utils import keccak
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from floor.devnet.artifacts import load_artifact
from floor.devnet.context import Deployer
from tests.integration.helpers import own_anvil

pytestmark = pytest.mark.integration

CHAIN_ID = 31_997
ETH = 10**18
E27 = 10**27
FEE_PRECISION_POINTS = 10**20
LIDO_FEE = 10**19  # 10%, the stand-in's default (Lido's total fee)
BOOTSTRAP = ETH  # what the stETH deployment sends: the 0xdead holder's shares
RP_DEPOSIT_FEE = 5 * 10**14  # 0.05% in 1e18, the stand-in's default (Rocket Pool's)
MINIPOOL_DEPOSIT = 31 * ETH


# ---------------------------------------------------------------- chain fixtures and helpers


@pytest.fixture(scope="module")
def w3(tmp_path_factory) -> Iterator[Web3]:
    with own_anvil(tmp_path_factory, CHAIN_ID, "staking") as url:
        yield Web3(HTTPProvider(url))


@pytest.fixture(autouse=True)
def _isolated(w3, lido, rocket) -> Iterator[None]:
    """Each test starts from the module's deployments (made before the snapshot) and leaves no state behind."""
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    yield
    w3.provider.make_request("evm_revert", [snapshot])


@pytest.fixture(scope="module")
def d(w3) -> Deployer:
    return Deployer(w3)


@pytest.fixture(scope="module")
def accounts(w3) -> dict[str, str]:
    a = w3.eth.accounts
    return {"admin": a[0], "oracle": a[1], "treasury": a[5], "user": a[6], "other": a[7], "minipool": a[8]}


def send(w3: Web3, fn, sender: str, value: int = 0):
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "value": value}), timeout=30)
    assert receipt["status"] == 1
    return receipt


def gas_cost(receipt) -> int:
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


def revert_data(fn, sender: str, value: int = 0) -> str:
    """The raw revert data of a call (a custom error's selector and arguments)."""
    with pytest.raises(ContractLogicError) as caught:
        fn.call({"from": sender, "value": value})
    data = caught.value.data
    return data if isinstance(data, str) else "0x" + bytes(data).hex()


def error(signature: str, types: list[str] | None = None, args: list | None = None) -> str:
    return "0x" + (keccak(text=signature)[:4] + encode(types or [], args or [])).hex()


def reverts_with(fn, sender: str, message: str, value: int = 0) -> None:
    """The call reverts with exactly this reason string."""
    with pytest.raises(ContractLogicError) as caught:
        fn.call({"from": sender, "value": value})
    assert caught.value.message == f"execution reverted: {message}"


# ---------------------------------------------------------------- Lido, modelled from its source


def shares_by_eth(eth: int, total_pooled: int, total_shares: int) -> int:
    """StETH.getSharesByPooledEth: rounds down."""
    return eth * total_shares // total_pooled


def eth_by_shares(shares: int, total_pooled: int, total_shares: int) -> int:
    """StETH.getPooledEthByShares: rounds down."""
    return shares * total_pooled // total_shares


def fee_shares(rewards: int, total_pooled: int, total_shares: int, fee: int = LIDO_FEE) -> int:
    """Lido._distributeFee: shares minted so the fee is worth `fee` of the rewards."""
    return rewards * fee * total_shares // ((total_pooled + rewards) * FEE_PRECISION_POINTS - rewards * fee)


def totals(steth: Contract) -> tuple[int, int]:
    return steth.functions.getTotalPooledEther().call(), steth.functions.getTotalShares().call()


@pytest.fixture(scope="module")
def lido(w3, d, accounts) -> dict[str, Contract]:
    artifact = load_artifact("LidoStETH")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = factory.constructor(accounts["admin"], accounts["oracle"], accounts["treasury"]).transact(
        {"from": accounts["admin"], "value": BOOTSTRAP}
    )
    steth = d.at("LidoStETH", w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])
    wsteth = d.deploy("LidoWstETH", steth.address)
    queue = d.deploy("LidoWithdrawalQueueERC721", wsteth.address, accounts["admin"])
    d.send(steth.functions.setWithdrawalQueue(queue.address))
    return {"steth": steth, "wsteth": wsteth, "queue": queue}


def report(w3: Web3, steth: Contract, oracle: str, delta: int, withdrawn: int = 0):
    return send(w3, steth.functions.oracleReport(delta), oracle, withdrawn)


def test_submit_mints_the_shares_computed_from_the_share_rate(w3, lido, accounts):
    steth, user = lido["steth"], accounts["user"]
    assert totals(steth) == (BOOTSTRAP, BOOTSTRAP)  # the 0xdead holder, so the rate is never 0/0
    assert steth.functions.sharesOf("0x000000000000000000000000000000000000dEaD").call() == BOOTSTRAP
    report(w3, steth, accounts["oracle"], 37 * 10**15)  # rewards move the rate off 1:1
    assert not steth.functions.isStakingPaused().call()
    assert steth.functions.getCurrentStakeLimit().call() == 2**256 - 1  # unlimited

    pooled, shares = totals(steth)
    value = 10 * ETH + 1
    expected = shares_by_eth(value, pooled, shares)
    assert expected < value  # one share is now worth more than one wei
    assert steth.functions.submit(accounts["other"]).call({"from": user, "value": value}) == expected
    send(w3, steth.functions.submit(accounts["other"]), user, value)

    assert steth.functions.sharesOf(user).call() == expected
    assert totals(steth) == (pooled + value, shares + expected)
    assert steth.functions.balanceOf(user).call() == eth_by_shares(expected, pooled + value, shares + expected)
    assert steth.functions.getBufferedEther().call() == BOOTSTRAP + value  # rewards are on the CL side
    reverts_with(steth.functions.submit(user), user, "ZERO_DEPOSIT")


def test_transfer_moves_shares_rounded_down_so_the_recipient_may_get_a_wei_less(w3, lido, accounts):
    steth, user, other = lido["steth"], accounts["user"], accounts["other"]
    send(w3, steth.functions.submit(user), user, 5 * ETH)
    report(w3, steth, accounts["oracle"], 3 * 10**16 + 7)
    pooled, shares = totals(steth)
    # An amount whose shares round down: the recipient's balance is a wei short of it.
    amount = next(
        a for a in range(ETH, ETH + 50) if eth_by_shares(shares_by_eth(a, pooled, shares), pooled, shares) < a
    )
    moved = shares_by_eth(amount, pooled, shares)
    user_shares = steth.functions.sharesOf(user).call()

    send(w3, steth.functions.transfer(other, amount), user)
    assert steth.functions.sharesOf(other).call() == moved
    assert steth.functions.sharesOf(user).call() == user_shares - moved
    assert steth.functions.balanceOf(other).call() == eth_by_shares(moved, pooled, shares) < amount

    assert steth.functions.transferShares(user, moved).call({"from": other}) == eth_by_shares(moved, pooled, shares)
    reverts_with(steth.functions.transferShares(other, user_shares), user, "BALANCE_EXCEEDED")
    reverts_with(steth.functions.transferFrom(user, other, 1), other, "ALLOWANCE_EXCEEDED")
    reverts_with(steth.functions.transfer(steth.address, 1), user, "TRANSFER_TO_STETH_CONTRACT")


def test_staking_limit_and_pause_refuse_submits_as_lido_does(w3, lido, accounts):
    steth, admin, user = lido["steth"], accounts["admin"], accounts["user"]
    send(w3, steth.functions.setStakingLimit(5 * ETH, ETH), admin)
    assert steth.functions.getCurrentStakeLimit().call() == 5 * ETH
    reverts_with(steth.functions.submit(user), user, "STAKE_LIMIT", 5 * ETH + 1)
    send(w3, steth.functions.submit(user), user, 4 * ETH)
    assert steth.functions.getCurrentStakeLimit().call() == ETH  # the limit regrows a block later
    w3.provider.make_request("evm_mine", [])
    assert steth.functions.getCurrentStakeLimit().call() == 2 * ETH

    send(w3, steth.functions.pauseStaking(), admin)
    assert steth.functions.isStakingPaused().call()
    assert steth.functions.getCurrentStakeLimit().call() == 0
    reverts_with(steth.functions.submit(user), user, "STAKING_PAUSED", ETH)
    reverts_with(steth.functions.resumeStaking(), user, "APP_AUTH_FAILED")


def test_an_oracle_report_raises_balances_by_the_share_rate_change_exactly(w3, lido, accounts):
    steth, user, oracle = lido["steth"], accounts["user"], accounts["oracle"]
    send(w3, steth.functions.submit(user), user, 100 * ETH)
    user_shares = steth.functions.sharesOf(user).call()
    pooled, shares = totals(steth)
    before = steth.functions.balanceOf(user).call()
    assert before == eth_by_shares(user_shares, pooled, shares)

    rewards = ETH + 12_345
    minted = fee_shares(rewards, pooled, shares)
    report(w3, steth, oracle, rewards)
    assert totals(steth) == (pooled + rewards, shares + minted)
    assert steth.functions.sharesOf(accounts["treasury"]).call() == minted
    after = steth.functions.balanceOf(user).call()
    assert after == eth_by_shares(user_shares, pooled + rewards, shares + minted)
    # The fee's shares take 10% of the rewards: the holder gains 90% of its pro-rata part (to rounding).
    assert abs((after - before) - rewards * 9 * user_shares // (10 * shares)) <= 2

    # A loss (after ETH went to validators) lowers every balance; no fee is minted on it.
    send(w3, steth.functions.depositToValidators(90 * ETH), oracle)
    pooled, shares = totals(steth)
    report(w3, steth, oracle, -(2 * ETH))
    assert totals(steth) == (pooled - 2 * ETH, shares)
    assert steth.functions.balanceOf(user).call() == eth_by_shares(user_shares, pooled - 2 * ETH, shares)
    reverts_with(steth.functions.oracleReport(1), user, "APP_AUTH_FAILED")


def test_wrap_unwrap_round_trip_follows_steth_per_token(w3, lido, accounts):
    steth, wsteth, user, oracle = lido["steth"], lido["wsteth"], accounts["user"], accounts["oracle"]
    send(w3, steth.functions.submit(user), user, 10 * ETH)
    report(w3, steth, oracle, 3 * 10**17 + 1)
    pooled, shares = totals(steth)
    assert wsteth.functions.stEthPerToken().call() == eth_by_shares(ETH, pooled, shares)
    assert wsteth.functions.tokensPerStEth().call() == shares_by_eth(ETH, pooled, shares)

    wrapped_steth = 4 * ETH + 3
    expected = shares_by_eth(wrapped_steth, pooled, shares)
    assert wsteth.functions.getWstETHByStETH(wrapped_steth).call() == expected
    send(w3, steth.functions.approve(wsteth.address, wrapped_steth), user)
    user_shares = steth.functions.sharesOf(user).call()
    assert wsteth.functions.wrap(wrapped_steth).call({"from": user}) == expected
    send(w3, wsteth.functions.wrap(wrapped_steth), user)
    assert wsteth.functions.balanceOf(user).call() == expected
    assert steth.functions.sharesOf(wsteth.address).call() == expected  # wstETH is a count of shares
    assert steth.functions.sharesOf(user).call() == user_shares - expected

    # Rewards raise stEthPerToken; unwrapping returns the wrapped shares at the new rate.
    report(w3, steth, oracle, 5 * 10**17)
    pooled, shares = totals(steth)
    per_token = wsteth.functions.stEthPerToken().call()
    assert per_token == eth_by_shares(ETH, pooled, shares) > ETH
    unwrapped = eth_by_shares(expected, pooled, shares)
    assert wsteth.functions.getStETHByWstETH(expected).call() == unwrapped
    assert unwrapped > wrapped_steth
    assert wsteth.functions.unwrap(expected).call({"from": user}) == unwrapped
    send(w3, wsteth.functions.unwrap(expected), user)
    returned_shares = shares_by_eth(unwrapped, pooled, shares)  # stETH.transfer rounds down again
    assert steth.functions.sharesOf(user).call() == user_shares - expected + returned_shares
    assert steth.functions.sharesOf(wsteth.address).call() == expected - returned_shares <= 2  # the corner case
    assert wsteth.functions.totalSupply().call() == 0
    reverts_with(wsteth.functions.unwrap(0), user, "wstETH: zero amount unwrap not allowed")
    reverts_with(wsteth.functions.wrap(0), user, "wstETH: can't wrap zero stETH")

    # Plain ETH to wstETH is staked and wrapped.
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": user, "to": wsteth.address, "value": ETH}))
    assert wsteth.functions.balanceOf(user).call() == shares_by_eth(ETH, pooled, shares)


def request_ids(w3: Web3, queue: Contract, user: str, amounts: list[int]) -> list[int]:
    ids = queue.functions.requestWithdrawals(amounts, user).call({"from": user})
    send(w3, queue.functions.requestWithdrawals(amounts, user), user)
    return ids


def status(queue: Contract, ids: list[int]) -> list[tuple]:
    return [tuple(s) for s in queue.functions.getWithdrawalStatus(ids).call()]


def test_a_2500_steth_exit_in_three_requests_is_finalised_by_a_report_and_claimed(w3, lido, accounts):
    steth, queue, user, oracle = lido["steth"], lido["queue"], accounts["user"], accounts["oracle"]
    send(w3, steth.functions.submit(user), user, 2_600 * ETH)
    report(w3, steth, oracle, 3 * ETH)  # rewards first, so a request's shares differ from its stETH
    amounts = [1_000 * ETH, 1_000 * ETH, 500 * ETH]
    send(w3, steth.functions.approve(queue.address, sum(amounts)), user)
    pooled, shares = totals(steth)
    request_shares = [shares_by_eth(a, pooled, shares) for a in amounts]

    ids = request_ids(w3, queue, user, amounts)
    assert ids == [1, 2, 3]
    assert queue.functions.getWithdrawalRequests(user).call() == ids
    assert queue.functions.balanceOf(user).call() == 3 and queue.functions.ownerOf(2).call() == user
    requested = status(queue, ids)
    assert [(s[0], s[1], s[2], s[4], s[5]) for s in requested] == [
        (a, sh, user, False, False) for a, sh in zip(amounts, request_shares, strict=True)
    ]
    assert steth.functions.sharesOf(queue.address).call() == sum(request_shares)
    assert queue.functions.unfinalizedStETH().call() == sum(amounts)
    # Nothing finalised: no hint (and, as on mainnet, a second id would search from index 0 and revert).
    assert queue.functions.findCheckpointHints([1], 1, 0).call() == [0]
    assert revert_data(queue.functions.findCheckpointHints(ids, 1, 0), user) == error(
        "InvalidRequestIdRange(uint256,uint256)", ["uint256", "uint256"], [0, 0]
    )
    assert revert_data(queue.functions.claimWithdrawals(ids, [0, 0, 0]), user) == error(
        "RequestNotFoundOrNotFinalized(uint256)", ["uint256"], [1]
    )

    # The report's rate is above the requests' (rewards since): they lock their nominal stETH.
    pooled, shares = totals(steth)
    rewards = 4 * ETH
    minted = fee_shares(rewards, pooled, shares)
    report_rate = (pooled + rewards) * E27 // (shares + minted)
    assert all(a * E27 // s <= report_rate for a, s in zip(amounts, request_shares, strict=True))
    report(w3, steth, oracle, rewards)

    assert queue.functions.getLastFinalizedRequestId().call() == 3
    assert queue.functions.getLastCheckpointIndex().call() == 1
    assert queue.functions.getLockedEtherAmount().call() == sum(amounts) == w3.eth.get_balance(queue.address)
    assert steth.functions.sharesOf(queue.address).call() == 0  # the requests' shares are burnt
    assert totals(steth) == (pooled + rewards - sum(amounts), shares + minted - sum(request_shares))
    assert [s[4] for s in status(queue, ids)] == [True, True, True]

    hints = queue.functions.findCheckpointHints(ids, 1, queue.functions.getLastCheckpointIndex().call()).call()
    assert hints == [1, 1, 1]
    assert queue.functions.getClaimableEther(ids, hints).call() == amounts
    assert revert_data(queue.functions.claimWithdrawals(ids, hints), accounts["other"]) == error(
        "NotOwner(address,address)", ["address", "address"], [accounts["other"], user]
    )
    assert revert_data(queue.functions.claimWithdrawals([1], [2]), user) == error(
        "InvalidHint(uint256)", ["uint256"], [2]
    )
    assert revert_data(queue.functions.claimWithdrawals(ids, [1, 1]), user) == error(
        "ArraysLengthMismatch(uint256,uint256)", ["uint256", "uint256"], [3, 2]
    )

    balance = w3.eth.get_balance(user)
    receipt = send(w3, queue.functions.claimWithdrawals(ids, hints), user)
    assert w3.eth.get_balance(user) == balance + sum(amounts) - gas_cost(receipt)
    assert [s[5] for s in status(queue, ids)] == [True, True, True]
    assert queue.functions.getLockedEtherAmount().call() == 0
    assert queue.functions.getWithdrawalRequests(user).call() == []
    assert queue.functions.getClaimableEther(ids, hints).call() == [0, 0, 0]
    assert revert_data(queue.functions.claimWithdrawals([1], [1]), user) == error(
        "RequestAlreadyClaimed(uint256)", ["uint256"], [1]
    )


def test_requests_outside_the_bounds_revert_with_the_queues_errors(w3, lido, accounts):
    steth, queue, user = lido["steth"], lido["queue"], accounts["user"]
    send(w3, steth.functions.submit(user), user, 1_100 * ETH)
    send(w3, steth.functions.approve(queue.address, 2**256 - 1), user)
    assert queue.functions.MIN_STETH_WITHDRAWAL_AMOUNT().call() == 100
    assert queue.functions.MAX_STETH_WITHDRAWAL_AMOUNT().call() == 1_000 * ETH

    assert revert_data(queue.functions.requestWithdrawals([99], user), user) == error(
        "RequestAmountTooSmall(uint256)", ["uint256"], [99]
    )
    assert revert_data(queue.functions.requestWithdrawals([1_000 * ETH + 1], user), user) == error(
        "RequestAmountTooLarge(uint256)", ["uint256"], [1_000 * ETH + 1]
    )
    assert revert_data(queue.functions.requestWithdrawals([100, 1_000 * ETH + 1], user), user) == error(
        "RequestAmountTooLarge(uint256)", ["uint256"], [1_000 * ETH + 1]
    )
    assert request_ids(w3, queue, user, [100, 1_000 * ETH]) == [1, 2]  # the bounds themselves are fine
    assert revert_data(queue.functions.getWithdrawalStatus([3]), user) == error(
        "InvalidRequestId(uint256)", ["uint256"], [3]
    )


def test_a_loss_before_finalisation_pays_the_lower_report_rate(w3, lido, accounts):
    steth, queue, user, oracle = lido["steth"], lido["queue"], accounts["user"], accounts["oracle"]
    send(w3, steth.functions.submit(user), user, 100 * ETH)
    send(w3, steth.functions.depositToValidators(90 * ETH), oracle)
    amount = 10 * ETH
    send(w3, steth.functions.approve(queue.address, amount), user)
    pooled, shares = totals(steth)
    request_shares = shares_by_eth(amount, pooled, shares)
    (request_id,) = request_ids(w3, queue, user, [amount])

    loss = 5 * ETH
    report_rate = (pooled - loss) * E27 // shares
    assert report_rate < amount * E27 // request_shares
    expected = request_shares * report_rate // E27  # min(request rate, report rate) x shares
    assert expected < amount
    report(w3, steth, oracle, -loss)

    assert queue.functions.getLockedEtherAmount().call() == expected
    assert totals(steth) == (pooled - loss - expected, shares - request_shares)
    assert queue.functions.getClaimableEther([request_id], [1]).call() == [expected]
    balance = w3.eth.get_balance(user)
    receipt = send(w3, queue.functions.claimWithdrawal(request_id), user)  # the hint found on chain
    assert w3.eth.get_balance(user) == balance + expected - gas_cost(receipt)


def test_finalisation_stops_where_the_buffer_runs_out_and_resumes_with_withdrawn_eth(w3, lido, accounts):
    steth, queue, user, oracle = lido["steth"], lido["queue"], accounts["user"], accounts["oracle"]
    send(w3, steth.functions.submit(user), user, 30 * ETH)
    send(w3, steth.functions.depositToValidators(16 * ETH), oracle)  # the buffer keeps 15 ETH
    send(w3, steth.functions.approve(queue.address, 20 * ETH), user)
    ids = request_ids(w3, queue, user, [10 * ETH, 10 * ETH])
    # Buffered ETH that unfinalised requests need cannot go to validators.
    reverts_with(steth.functions.depositToValidators(1), oracle, "NOT_ENOUGH_DEPOSITABLE_ETHER")

    report(w3, steth, oracle, 0)
    assert queue.functions.getLastFinalizedRequestId().call() == 1  # 10 of 15 ETH; the next 10 do not fit
    assert steth.functions.getBufferedEther().call() == 5 * ETH

    # Validators' ETH sent back with a report lands in the buffer without moving the rate.
    pooled, shares = totals(steth)
    report(w3, steth, oracle, 0, 6 * ETH)
    assert queue.functions.getLastFinalizedRequestId().call() == 2
    assert steth.functions.getBufferedEther().call() == ETH
    request_shares = status(queue, ids)[1][1]
    assert totals(steth) == (pooled - 10 * ETH, shares - request_shares)
    assert queue.functions.getLastCheckpointIndex().call() == 2
    assert queue.functions.findCheckpointHints(ids, 1, 2).call() == [1, 2]
    assert queue.functions.getClaimableEther(ids, [1, 2]).call() == [10 * ETH, 10 * ETH]


# ---------------------------------------------------------------- Rocket Pool, modelled from its source


def rp_key(*parts: str | bytes) -> bytes:
    """keccak256(abi.encodePacked(...)) of strings and addresses, as Rocket Pool keys its storage."""
    return keccak(b"".join(p if isinstance(p, bytes) else p.encode() for p in parts))


def address_bytes(address: str) -> bytes:
    return bytes.fromhex(address[2:])


@pytest.fixture(scope="module")
def rocket(w3, d, accounts) -> dict[str, Contract]:
    storage = d.deploy("RocketStorage")  # the deployer (admin) is the guardian
    contracts = {
        "rocketVault": d.deploy("RocketVault", storage.address),
        "rocketNetworkBalances": d.deploy("RocketNetworkBalances", storage.address),
        "rocketDepositPool": d.deploy("RocketDepositPool", storage.address),
        "rocketTokenRETH": d.deploy("RocketTokenRETH", storage.address),
    }
    for name, contract in contracts.items():  # registered as Rocket Pool's deployment does
        d.send(storage.functions.setBool(rp_key("contract.exists", address_bytes(contract.address)), True))
        d.send(storage.functions.setString(rp_key("contract.name", address_bytes(contract.address)), name))
        d.send(storage.functions.setAddress(rp_key("contract.address", name), contract.address))
    d.send(storage.functions.setDeployedStatus())
    return {
        "storage": storage,
        "vault": contracts["rocketVault"],
        "balances": contracts["rocketNetworkBalances"],
        "pool": contracts["rocketDepositPool"],
        "reth": contracts["rocketTokenRETH"],
    }


def submit_balances(w3: Web3, rocket: dict, guardian: str, total_eth: int, reth_supply: int):
    block = w3.eth.get_block(w3.eth.block_number - 1)  # a past block, as the oDAO reports
    fn = rocket["balances"].functions.submitBalances(
        block["number"], block["timestamp"], total_eth, total_eth, reth_supply
    )
    return send(w3, fn, guardian)


def set_deposit_settings(w3: Web3, rocket: dict, guardian: str, max_pool: int, assign: bool = True):
    fn = rocket["pool"].functions.setDepositSettings(True, assign, ETH // 100, max_pool, RP_DEPOSIT_FEE)
    return send(w3, fn, guardian)


def reth_for(eth: int, total_eth: int, reth_supply: int) -> int:
    """RocketTokenRETH.getRethValue (1:1 before any balances)."""
    return eth if reth_supply == 0 else eth * reth_supply // total_eth


def eth_for(reth: int, total_eth: int, reth_supply: int) -> int:
    """RocketTokenRETH.getEthValue (1:1 before any balances)."""
    return reth if reth_supply == 0 else reth * total_eth // reth_supply


def test_the_deposit_pool_is_found_at_its_storage_key(rocket):
    key = rp_key("contract.address", "rocketDepositPool")
    assert key == Web3.solidity_keccak(["string", "string"], ["contract.address", "rocketDepositPool"])
    assert key == keccak(text="contract.addressrocketDepositPool")
    assert rocket["storage"].functions.getAddress(key).call() == rocket["pool"].address
    assert rocket["storage"].functions.getAddress(rp_key("contract.address", "rocketTokenRETH")).call() == (
        rocket["reth"].address
    )
    assert rocket["storage"].functions.getDeployedStatus().call()


def test_a_deposit_within_the_maximum_mints_reth_at_the_rate_net_of_the_fee(w3, rocket, accounts):
    pool, reth, guardian, user = rocket["pool"], rocket["reth"], accounts["admin"], accounts["user"]
    set_deposit_settings(w3, rocket, guardian, 100 * ETH)
    total_eth, reth_supply = 1_100 * ETH, 1_000 * ETH
    submit_balances(w3, rocket, guardian, total_eth, reth_supply)
    assert pool.functions.getMaximumDepositAmount().call() == 100 * ETH

    value = 10 * ETH + 7
    fee = value * RP_DEPOSIT_FEE // ETH
    expected = reth_for(value - fee, total_eth, reth_supply)
    receipt = send(w3, pool.functions.deposit(), user, value)
    assert reth.functions.balanceOf(user).call() == expected
    (minted,) = reth.events.TokensMinted().process_receipt(receipt, errors=DISCARD)  # the pool's and vault's logs
    assert (minted["args"]["amount"], minted["args"]["ethAmount"]) == (expected, value - fee)
    # The whole deposit (fee included) is in the vault under the pool's name.
    assert (
        pool.functions.getBalance().call() == value == rocket["vault"].functions.balanceOf("rocketDepositPool").call()
    )
    assert pool.functions.getExcessBalance().call() == value
    assert reth.functions.getTotalCollateral().call() == value
    assert pool.functions.getMaximumDepositAmount().call() == 100 * ETH - value


def test_a_deposit_above_the_maximum_reverts_with_rocket_pools_reasons(w3, rocket, accounts):
    pool, guardian, user = rocket["pool"], accounts["admin"], accounts["user"]
    set_deposit_settings(w3, rocket, guardian, 100 * ETH)
    send(w3, pool.functions.deposit(), user, 60 * ETH)
    room = pool.functions.getMaximumDepositAmount().call()
    assert room == 40 * ETH

    reverts_with(
        pool.functions.deposit(),
        user,
        "The deposit pool size after depositing (and matching with minipools) exceeds the maximum size",
        room + 1,
    )
    reverts_with(
        pool.functions.deposit(), user, "The deposited amount is less than the minimum deposit size", ETH // 100 - 1
    )
    set_deposit_settings(w3, rocket, guardian, 100 * ETH, assign=False)
    reverts_with(
        pool.functions.deposit(), user, "The deposit pool size after depositing exceeds the maximum size", room + 1
    )
    reverts_with(pool.functions.setDepositSettings(True, True, 0, 0, 0), user, "Account is not a temporary guardian")

    send(w3, pool.functions.deposit(), user, room)  # exactly the room left is accepted
    assert pool.functions.getMaximumDepositAmount().call() == 0
    # Queued minipools add their capacity to the maximum when assignments are enabled.
    set_deposit_settings(w3, rocket, guardian, 100 * ETH)
    send(w3, pool.functions.enqueueMinipools([accounts["minipool"]]), guardian)
    assert pool.functions.getMaximumDepositAmount().call() == MINIPOOL_DEPOSIT


def test_a_balances_submission_moves_the_exchange_rate(w3, rocket, accounts):
    reth, balances, guardian = rocket["reth"], rocket["balances"], accounts["admin"]
    assert reth.functions.getExchangeRate().call() == ETH  # 1:1 before any balances
    submit_balances(w3, rocket, guardian, 1_050 * ETH, 1_000 * ETH)
    assert reth.functions.getExchangeRate().call() == eth_for(ETH, 1_050 * ETH, 1_000 * ETH)
    submit_balances(w3, rocket, guardian, 1_103 * ETH + 1, 1_000 * ETH)
    assert reth.functions.getExchangeRate().call() == eth_for(ETH, 1_103 * ETH + 1, 1_000 * ETH)
    assert reth.functions.getEthValue(3 * ETH + 1).call() == eth_for(3 * ETH + 1, 1_103 * ETH + 1, 1_000 * ETH)
    assert reth.functions.getRethValue(3 * ETH + 1).call() == reth_for(3 * ETH + 1, 1_103 * ETH + 1, 1_000 * ETH)
    assert balances.functions.getTotalETHBalance().call() == 1_103 * ETH + 1
    assert balances.functions.getTotalRETHSupply().call() == 1_000 * ETH

    block = w3.eth.get_block("latest")
    submitted = balances.functions.getBalancesBlock().call()
    reverts_with(
        balances.functions.submitBalances(block["number"], 0, ETH, ETH, ETH), accounts["user"], "Invalid trusted node"
    )
    reverts_with(
        balances.functions.submitBalances(block["number"] + 1, 0, ETH, ETH, ETH),
        guardian,
        "Balances can not be submitted for a future block",
    )
    reverts_with(
        balances.functions.submitBalances(submitted - 1, 0, ETH, ETH, ETH),
        guardian,
        "Network balances for a higher block are set",
    )


def test_a_burn_within_collateral_pays_its_eth_value(w3, rocket, accounts):
    pool, reth, guardian, user = rocket["pool"], rocket["reth"], accounts["admin"], accounts["user"]
    set_deposit_settings(w3, rocket, guardian, 100 * ETH)
    total_eth, reth_supply = 1_100 * ETH, 1_000 * ETH
    submit_balances(w3, rocket, guardian, total_eth, reth_supply)
    send(w3, pool.functions.deposit(), user, 40 * ETH)
    burnt = reth.functions.balanceOf(user).call() // 4
    expected = eth_for(burnt, total_eth, reth_supply)

    balance = w3.eth.get_balance(user)
    receipt = send(w3, reth.functions.burn(burnt), user)
    assert w3.eth.get_balance(user) == balance + expected - gas_cost(receipt)
    # rETH held no ETH: the deposit pool's excess paid it.
    assert pool.functions.getBalance().call() == 40 * ETH - expected
    assert w3.eth.get_balance(reth.address) == 0
    reverts_with(reth.functions.burn(0), user, "Invalid token burn amount")
    reverts_with(reth.functions.burn(2**255), user, "Insufficient rETH balance")


def test_a_burn_beyond_collateral_reverts_once_eth_went_to_minipools(w3, rocket, accounts):
    pool, reth, guardian, user = rocket["pool"], rocket["reth"], accounts["admin"], accounts["user"]
    minipool = accounts["minipool"]
    set_deposit_settings(w3, rocket, guardian, 100 * ETH)
    total_eth, reth_supply = 1_100 * ETH, 1_000 * ETH
    submit_balances(w3, rocket, guardian, total_eth, reth_supply)
    send(w3, pool.functions.deposit(), user, 40 * ETH)
    held = reth.functions.balanceOf(user).call()

    # A minipool joins the queue: at once its 31 ETH are no longer excess, then the assignment moves them out.
    send(w3, pool.functions.enqueueMinipools([minipool]), guardian)
    assert reth.functions.getTotalCollateral().call() == 9 * ETH
    before = w3.eth.get_balance(minipool)
    send(w3, pool.functions.assignDeposits(), accounts["other"])
    assert w3.eth.get_balance(minipool) == before + MINIPOOL_DEPOSIT
    assert pool.functions.getBalance().call() == 9 * ETH == reth.functions.getTotalCollateral().call()

    assert eth_for(held, total_eth, reth_supply) > 9 * ETH
    reverts_with(reth.functions.burn(held), user, "Insufficient ETH balance for exchange")
    within = reth_for(9 * ETH, total_eth, reth_supply)
    send(w3, reth.functions.burn(within), user)  # what the collateral covers still burns
    reverts_with(reth.functions.burn(held - within), user, "Insufficient ETH balance for exchange")

    # The minipool's ETH coming back (an exit) to rETH is collateral again.
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": minipool, "to": reth.address, "value": MINIPOOL_DEPOSIT})
    )
    balance = w3.eth.get_balance(user)
    receipt = send(w3, reth.functions.burn(held - within), user)
    assert w3.eth.get_balance(user) == balance + eth_for(held - within, total_eth, reth_supply) - gas_cost(receipt)
