"""Lido and Rocket Pool through the executor on the session's chain 1: the treasury's WETH is
unwrapped and staked in one batch, the protocol's oracle moves the rate, the yield shows in
the position and in the measured APY, and the exits behave as each protocol's do (Lido: a
queued request finalised by a report, then claimed and wrapped; Rocket Pool: an instant burn
bounded by rETH's collateral, wrapped back). No allowance outlives a batch."""

from __future__ import annotations

import pytest
from eth_abi import decode
from eth_utils import to_checksum_address

from floor.adapters.base import RAY, Deposit, PositionReading, Withdraw, WithdrawAll
from floor.adapters.registry import AdapterRegistry
from floor.calls import call
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_liquidity, read_positions, read_rate_snapshots
from floor.guards import ETH as ETH_TOKEN
from floor.guards import Expected, guarded
from floor.models import AdapterKey, Call
from floor.protocols.lido.adapter import submit_rounding
from floor.protocols.lido.requests import read_requests
from floor.protocols.rocket_pool.errors import DepositPoolFull, InsufficientCollateral
from floor.rates import realised_rate
from tests.integration.helpers import advance_time, balance, contract, mint, protected_calls

ETH = 10**18
DAY = 24 * 3600
LIDO = AdapterKey(chain_id=1, protocol="lido", market="stETH")
ROCKET = AdapterKey(chain_id=1, protocol="rocket-pool", market="rETH")


@pytest.fixture
def chain1(stack, settings, web3s, signer):
    chain = settings.chain(1)
    w3 = web3s[1]
    return {
        "chain": chain,
        "w3": w3,
        "client": ExecutorClient(w3, 1, chain.executor, signer),
        "reader": MulticallReader(w3),
        "executor": chain.executor,
        "admin": stack.chains[1].deployed.admin,  # Lido's oracle and Rocket Pool's guardian
        "registry": AdapterRegistry.from_settings(settings),
    }


def send(w3, fn, sender: str) -> None:
    """A protocol participant's transaction (the oracle's report, the guardian's settings), mined."""
    assert w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}), timeout=30)["status"] == 1


def eth_balance(w3, address: str) -> int:
    return w3.eth.get_balance(address)


def request_amounts_of(calls, queue: str) -> list[int]:
    out = []
    for c in calls:
        if c.target == queue:
            amounts, _owner = decode(["uint256[]", "address"], bytes.fromhex(c.data[10:]))
            out += list(amounts)
    return out


# ---------------------------------------------------------------------------- Lido


def test_lido_stakes_weth_and_its_yield_shows_after_an_oracle_report(chain1):
    w3, client, reader, executor = chain1["w3"], chain1["client"], chain1["reader"], chain1["executor"]
    lido = chain1["registry"].get(LIDO)
    steth = contract(w3, "LidoStETH", lido.steth)
    weth = lido.asset.address
    amount = 100 * ETH
    mint(w3, weth, executor, amount)
    rate = steth.functions.getPooledEthByShares(RAY).call()

    calls = protected_calls(w3, lido, Deposit(amount), executor)
    # Unwrap, then stake carrying exactly that ETH: the only value-carrying Lido call.
    unwrap, submit = calls[1], calls[2]
    assert (unwrap.target, unwrap.value) == (weth, 0) and (submit.target, submit.value) == (lido.steth, amount)
    assert [c for c in calls if c.value] == [submit]
    client.execute(calls)

    (position,) = read_positions(reader, [lido], executor)
    assert amount - submit_rounding(rate) <= position.amount <= amount
    assert position.shares == steth.functions.sharesOf(executor).call() > 0
    assert balance(w3, weth, executor) == 0 and eth_balance(w3, executor) == 0
    liquidity = lido.decode_liquidity(reader.read(lido.liquidity_reads(executor)).results)
    assert liquidity.withdrawable == 0 and "withdrawal queue" in liquidity.reason
    assert (lido.exit, lido.yield_source) == ("queued", "rebase") and lido.exit_wait_s >= DAY

    before = read_rate_snapshots(reader, [lido])[0]
    advance_time(w3, DAY)
    pooled = steth.functions.getTotalPooledEther().call()
    rewards = pooled * 3 // 10_000  # a day's consensus-layer rewards, about 11% a year before the fee
    send(w3, steth.functions.oracleReport(rewards), chain1["admin"])
    after = read_rate_snapshots(reader, [lido])[0]
    (grown,) = read_positions(reader, [lido], executor)

    assert after.growth_index > before.growth_index
    assert grown.shares == position.shares and grown.amount > position.amount  # a rebase: same shares
    assert grown.amount == steth.functions.getPooledEthByShares(grown.shares).call()
    measured = realised_rate(before, after)
    assert measured.apy > measured.apr > 0.05  # measured from the share rate, 90% of ~11% after Lido's fee
    assert steth.functions.allowance(executor, lido.withdrawal_queue).call() == 0


def test_the_executor_allows_lido_exactly_the_unwrap_and_the_value_carrying_submit(chain1):
    w3, client, executor = chain1["w3"], chain1["client"], chain1["executor"]
    lido = chain1["registry"].get(LIDO)
    weth = lido.asset.address
    rules = contract(w3, "FloorExecutor", executor)
    for permission in lido.permissions().rules:
        assert rules.functions.ruleOf(*permission.pair).call() == permission.as_rule()
    mint(w3, weth, executor, 2 * ETH)
    client.execute([call(weth, "withdraw(uint256)", ETH)])  # WETH pays the executor's default function
    assert eth_balance(w3, executor) == ETH

    with pytest.raises(ExecutionReverted, match=r"ValueNotAllowed"):  # unwrapping carries no ETH
        client.execute([call(weth, "withdraw(uint256)", ETH, value=1)])
    with pytest.raises(ExecutionReverted, match=r"CallNotAllowed"):  # plain ETH only to destinations
        client.execute([Call(target=lido.steth, value=1, data="0x")])
    with pytest.raises(ExecutionReverted, match=r"ArgumentNotAllowed"):  # requests belong to the executor
        client.execute([call(lido.withdrawal_queue, "requestWithdrawals(uint256[],address)", [100], weth)])
    client.execute([call(lido.steth, "submit(address)", "0x" + "00" * 20, value=ETH)])
    assert eth_balance(w3, executor) == 0


def test_a_2500_steth_exit_is_three_requests_finalised_by_a_report_and_claimed_to_weth(chain1):
    w3, client, reader, executor = chain1["w3"], chain1["client"], chain1["reader"], chain1["executor"]
    lido = chain1["registry"].get(LIDO)
    steth, queue = (
        contract(w3, "LidoStETH", lido.steth),
        contract(w3, "LidoWithdrawalQueueERC721", lido.withdrawal_queue),
    )
    weth = lido.asset.address
    mint(w3, weth, executor, 2_600 * ETH)
    client.execute(protected_calls(w3, lido, Deposit(2_600 * ETH), executor))

    exit_amount = 2_500 * ETH
    calls = protected_calls(w3, lido, Withdraw(exit_amount), executor)
    assert request_amounts_of(calls, lido.withdrawal_queue) == [1_000 * ETH, 1_000 * ETH, 500 * ETH]
    client.execute(calls)
    assert steth.functions.allowance(executor, lido.withdrawal_queue).call() == 0

    pending = read_requests(reader, lido, executor)
    assert [(r.amount, r.finalized, r.claimed, r.claimable) for r in pending] == [
        (1_000 * ETH, False, False, 0),
        (1_000 * ETH, False, False, 0),
        (500 * ETH, False, False, 0),
    ]
    (position,) = read_positions(reader, [lido], executor)
    assert 100 * ETH - 3 <= position.amount <= 100 * ETH  # what was not requested keeps earning

    # The next report finalises them (the buffer holds the stake) at the requests' own rate.
    send(w3, steth.functions.oracleReport(ETH), chain1["admin"])
    finalised = read_requests(reader, lido, executor)
    assert all(r.finalized and not r.claimed and r.hint == 1 for r in finalised)
    assert [r.claimable for r in finalised] == [1_000 * ETH, 1_000 * ETH, 500 * ETH]

    ids = [r.id for r in finalised]
    total = sum(r.claimable for r in finalised)
    claim = guarded(
        executor,
        lido.claim_withdrawal_calls(ids, [r.hint for r in finalised], total, executor),
        [Expected(weth, total), Expected(ETH_TOKEN, 0)],
        0,
    )
    client.execute(claim)
    assert balance(w3, weth, executor) == total == exit_amount
    assert eth_balance(w3, executor) == 0  # the ETH the queue paid was wrapped in the same batch
    assert read_requests(reader, lido, executor) == []
    assert [s[5] for s in queue.functions.getWithdrawalStatus(ids).call()] == [True, True, True]


def test_lido_refuses_a_request_below_the_queues_minimum_before_sending(chain1):
    from floor.protocols.lido.errors import RequestAmountTooSmall

    lido = chain1["registry"].get(LIDO)
    nonce = chain1["w3"].eth.get_transaction_count(chain1["client"].signer.address)
    with pytest.raises(RequestAmountTooSmall, match="99 wei of stETH is below the queue's minimum of 100 wei"):
        protected_calls(chain1["w3"], lido, Withdraw(99), chain1["executor"])
    assert chain1["w3"].eth.get_transaction_count(chain1["client"].signer.address) == nonce


# ---------------------------------------------------------------------------- Rocket Pool


def submit_balances(w3, rocket_storage: str, guardian: str, total_eth: int, reth_supply: int) -> None:
    from floor.protocols.rocket_pool.adapter import contract_key

    storage = contract(w3, "RocketStorage", rocket_storage)
    balances = contract(
        w3, "RocketNetworkBalances", storage.functions.getAddress(contract_key("rocketNetworkBalances")).call()
    )
    w3.provider.make_request("evm_mine", [])
    block = w3.eth.get_block(w3.eth.block_number - 1)  # a past block, as the oracle DAO reports
    send(
        w3,
        balances.functions.submitBalances(block["number"], block["timestamp"], total_eth, total_eth, reth_supply),
        guardian,
    )


def network_balances(w3, rocket) -> tuple[int, int]:
    from floor.protocols.rocket_pool.adapter import contract_key

    storage = contract(w3, "RocketStorage", rocket.rocket_storage)
    balances = contract(
        w3, "RocketNetworkBalances", storage.functions.getAddress(contract_key("rocketNetworkBalances")).call()
    )
    return balances.functions.getTotalETHBalance().call(), balances.functions.getTotalRETHSupply().call()


def test_rocket_pool_stakes_weth_earns_on_a_balances_update_and_burns_part_back_to_weth(chain1):
    w3, client, reader, executor = chain1["w3"], chain1["client"], chain1["reader"], chain1["executor"]
    rocket = chain1["registry"].get(ROCKET)
    reth, pool = contract(w3, "RocketTokenRETH", rocket.reth), contract(w3, "RocketDepositPool", rocket.deposit_pool)
    weth = rocket.asset.address
    amount = 100 * ETH
    mint(w3, weth, executor, amount)

    # Above what the deposit pool takes now: refused with the figure, nothing sent.
    most = pool.functions.getMaximumDepositAmount().call()
    with pytest.raises(DepositPoolFull, match=rf"above what the deposit pool takes now \({most} wei\)"):
        protected_calls(w3, rocket, Deposit(most + 1), executor)

    total, supply = network_balances(w3, rocket)
    fee = amount * pool.functions.getDepositFee().call() // ETH
    minted = (amount - fee) * supply // total  # rETH's getRethValue of the deposit net of the fee
    client.execute(protected_calls(w3, rocket, Deposit(amount), executor))
    assert reth.functions.balanceOf(executor).call() == minted
    assert balance(w3, weth, executor) == 0 and eth_balance(w3, executor) == 0
    (position,) = read_positions(reader, [rocket], executor)
    rate = reth.functions.getExchangeRate().call()
    assert (position.amount, position.shares) == (minted * rate // ETH, minted)
    assert 0 <= reth.functions.getEthValue(minted).call() - position.amount <= minted // ETH + 1
    assert amount - fee - 2 <= position.amount <= amount - fee

    # The oracle DAO reports a month of rewards: the rate and the position's value rise.
    before = read_rate_snapshots(reader, [rocket])[0]
    advance_time(w3, 30 * DAY)
    # The network now: rETH supply with the deposit, its ETH at the old rate plus 0.25% rewards.
    supply += minted
    submit_balances(
        w3, rocket.rocket_storage, chain1["admin"], supply * total // (supply - minted) * 10_025 // 10_000, supply
    )
    after = read_rate_snapshots(reader, [rocket])[0]
    (grown,) = read_positions(reader, [rocket], executor)
    assert after.growth_index > before.growth_index and grown.shares == minted
    measured = realised_rate(before, after)
    assert measured.apy > measured.apr > 0

    part = 30 * ETH
    burnt = reth.functions.getRethValue(part).call() + 1
    client.execute(protected_calls(w3, rocket, Withdraw(part), executor))
    assert balance(w3, weth, executor) == part  # wrapped back in the same batch
    assert reth.functions.balanceOf(executor).call() == minted - burnt
    assert 0 <= eth_balance(w3, executor) <= 2  # the burn's rounding, a wei or two of ETH

    # Everything else: the whole balance is burnt and exactly what it pays is wrapped.
    (rest,) = read_positions(reader, [rocket], executor)
    pays = reth.functions.getEthValue(rest.shares).call()
    client.execute(protected_calls(w3, rocket, WithdrawAll(PositionReading(rest.amount, rest.shares)), executor))
    assert reth.functions.balanceOf(executor).call() == 0
    assert balance(w3, weth, executor) == part + pays
    assert contract(w3, "TestWETH", weth).functions.allowance(executor, rocket.deposit_pool).call() == 0


def test_a_burn_beyond_rocket_pools_collateral_is_refused_before_sending_with_what_can_leave_now(chain1):
    w3, client, reader, executor = chain1["w3"], chain1["client"], chain1["reader"], chain1["executor"]
    rocket = chain1["registry"].get(ROCKET)
    reth, pool = contract(w3, "RocketTokenRETH", rocket.reth), contract(w3, "RocketDepositPool", rocket.deposit_pool)
    weth = rocket.asset.address
    mint(w3, weth, executor, 100 * ETH)
    client.execute(protected_calls(w3, rocket, Deposit(100 * ETH), executor))

    # Minipools join the queue: the pool's ETH is theirs now, not excess backing rETH burns.
    balance_in_pool = pool.functions.getBalance().call()
    minipools = (balance_in_pool - 15 * ETH) // (31 * ETH)
    queued = [to_checksum_address(f"0x{i + 1:040x}") for i in range(minipools)]
    send(w3, pool.functions.enqueueMinipools(queued), chain1["admin"])
    collateral = reth.functions.getTotalCollateral().call()
    assert collateral == balance_in_pool - minipools * 31 * ETH < 50 * ETH

    liquidity = rocket.decode_liquidity(reader.read(rocket.liquidity_reads(executor)).results)
    assert read_liquidity(reader, [rocket], executor)[0].withdrawable == liquidity.withdrawable
    assert liquidity.market_available == collateral
    assert collateral - 2 <= liquidity.withdrawable < collateral < liquidity.position
    assert "collateral" in liquidity.reason
    nonce = w3.eth.get_transaction_count(client.signer.address)
    with pytest.raises(InsufficientCollateral, match=rf"{liquidity.withdrawable} wei can be withdrawn now"):
        protected_calls(w3, rocket, Withdraw(50 * ETH), executor)
    # Sent anyway, the burn reverts with Rocket Pool's own reason, named.
    burn_all = [call(rocket.reth, "burn(uint256)", reth.functions.balanceOf(executor).call())]
    with pytest.raises(
        ExecutionReverted, match="Insufficient ETH balance for exchange: InsufficientCollateral"
    ) as caught:
        client.execute(burn_all)
    assert caught.value.error == "InsufficientCollateral"
    assert w3.eth.get_transaction_count(client.signer.address) == nonce

    client.execute(protected_calls(w3, rocket, Withdraw(liquidity.withdrawable), executor))
    assert balance(w3, weth, executor) == liquidity.withdrawable
