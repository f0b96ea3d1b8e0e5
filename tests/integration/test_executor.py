"""The executor contract: only the operator, only allowed calls with scoped arguments, balance
guards, the owner/guardian/operator roles, all or nothing."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from floor.adapters.registry import executor_setup
from floor.calls import call, selector
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient, decode_revert, encode_execute
from floor.chain.signer import LocalKeySigner
from floor.deploy import safe as safe_module
from floor.devnet.context import Deployer
from floor.devnet.deploy import configure_executor, deploy_executor
from floor.devnet.owner import LOCAL_SAFE, OWNER_ACCOUNTS, THRESHOLD, as_owner
from floor.devnet.stack import fund_signer, new_operator_key
from floor.guards import ETH
from floor.permissions import DESTINATIONS, PermissionSet, to_self, word_of
from tests.integration.helpers import balance, contract, mint

MAX_UINT = 2**256 - 1


@pytest.fixture
def chain1(settings, web3s, signer):
    chain = settings.chain(1)
    w3 = web3s[1]
    return chain, w3, ExecutorClient(w3, 1, chain.executor, signer), contract(w3, "FloorExecutor", chain.executor)


@pytest.fixture
def reverter(web3s):
    return Deployer(web3s[1]).deploy("Reverter")


def allow(w3, executor: str, target: str, *signatures: str) -> None:
    """The owner allows plain (unscoped) calls: what the test contracts need."""
    configure_executor(w3, executor, PermissionSet.union(to_self(target, s) for s in signatures))


def refusal(fn, sender: str) -> str:
    """The contract's named error for a call from `sender`."""
    with pytest.raises(ContractLogicError) as caught:
        fn.call({"from": sender})
    return decode_revert(caught.value.data)


def test_unlisted_target_is_refused_without_spending_a_nonce(chain1, reverter, signer):
    _chain, w3, client, _ = chain1
    nonce = w3.eth.get_transaction_count(signer.address)
    with pytest.raises(ExecutionReverted, match=r"CallNotAllowed\(call 0: target .*selector 0x"):
        client.execute([call(reverter.address, "ok()")])
    assert w3.eth.get_transaction_count(signer.address) == nonce


def test_unlisted_selector_on_a_listed_target_is_refused(chain1):
    chain, _w3, client, _ = chain1
    usdc = chain.token("USDC").address  # approve and transfer are listed on USDC, transferFrom is not
    with pytest.raises(ExecutionReverted, match="CallNotAllowed.*selector 0x23b872dd"):
        client.execute([call(usdc, "transferFrom(address,address,uint256)", chain.executor, chain.executor, 1)])


def test_wrong_caller_is_refused(chain1, web3s):
    chain, w3, _, _ = chain1
    stranger = LocalKeySigner.from_private_key(new_operator_key())
    fund_signer(w3, stranger.address)
    with pytest.raises(ExecutionReverted, match=f"NotOperator\\({stranger.address}\\)"):
        ExecutorClient(w3, 1, chain.executor, stranger).execute(
            [call(chain.token("USDC").address, "approve(address,uint256)", chain.markets[0].pool, 0)]
        )


def test_one_failing_call_reverts_the_whole_batch(chain1, reverter, signer):
    chain, w3, client, _executor = chain1
    usdc = chain.token("USDC").address
    spender = chain.markets[0].pool
    allow(w3, chain.executor, reverter.address, "ok()", "fail()")
    batch = [
        call(usdc, "approve(address,uint256)", spender, 123),
        call(reverter.address, "ok()"),
        call(reverter.address, "fail()"),
    ]

    with pytest.raises(ExecutionReverted, match=r"CallFailed\(call 2\): Reverter: fail"):
        client.execute(batch)

    # Mined anyway (gas set by hand, skipping the estimate): status 0 and no effect at all.
    tx = client.signer.sign_transaction(
        {**client.build(batch[:2]), "data": "0x" + encode_execute(batch).hex(), "gas": 300_000}
    )
    w3.eth.send_raw_transaction(tx.raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx.hash)
    assert receipt["status"] == 0
    assert contract(w3, "TestERC20", usdc).functions.allowance(chain.executor, spender).call() == 0
    assert reverter.functions.okCount().call() == 0


def test_allowed_batch_executes_and_emits_one_event_per_call(chain1, reverter, signer):
    chain, w3, client, executor = chain1
    allow(w3, chain.executor, reverter.address, "ok()")
    record = client.execute([call(reverter.address, "ok()"), call(reverter.address, "ok()")])
    receipt = w3.eth.get_transaction_receipt(record.tx_hash)
    events = executor.events.CallExecuted().process_receipt(receipt, errors=DISCARD)  # skip Reverter's own logs
    assert [e.args.index for e in events] == [0, 1] and record.status == 1 and record.calls == 2


def test_reentrancy_is_refused(web3s):
    w3 = web3s[1]
    d = Deployer(w3)
    executor = d.at("FloorExecutor", deploy_executor(w3, d.admin))
    probe = d.deploy("ReentrancyProbe", executor.address)
    as_owner(w3, executor.address, [executor.functions.setOperator(probe.address)])
    allow(w3, executor.address, probe.address, "reenter()")
    assert refusal(probe.functions.attack(), d.admin) == "CallFailed(call 0): Reentrancy()"


# ---------------------------------------------------------------- scoped arguments


def _drain_cases(chain, attacker: str):
    """(name, calls that pay the attacker, the same calls paying the executor, the refused call's
    index and argument). Each was a working drain before arguments were scoped."""
    usdc = chain.token("USDC").address
    aave = next(m for m in chain.markets if m.protocol == "aave-v3" and m.asset == "USDC")
    vault = next(m for m in chain.markets if m.protocol == "metamorpho" and m.asset == "USDC")
    me = chain.executor
    supply = "supply(address,uint256,address,uint16)"

    def approve(spender, amount=10**6):
        return call(usdc, "approve(address,uint256)", spender, amount)

    return [
        ("token approve", [approve(attacker)], [approve(aave.pool)], 0, 0),
        (
            "aave supply onBehalfOf",
            [approve(aave.pool), call(aave.pool, supply, usdc, 10**6, attacker, 0)],
            [approve(aave.pool), call(aave.pool, supply, usdc, 10**6, me, 0)],
            1,
            2,
        ),
        (
            "vault deposit receiver",
            [approve(vault.vault), call(vault.vault, "deposit(uint256,address)", 10**6, attacker)],
            [approve(vault.vault), call(vault.vault, "deposit(uint256,address)", 10**6, me)],
            1,
            1,
        ),
        (
            "aave withdraw to",
            [call(aave.pool, "withdraw(address,uint256,address)", usdc, 10**5, attacker)],
            [call(aave.pool, "withdraw(address,uint256,address)", usdc, 10**5, me)],
            0,
            2,
        ),
        (
            "vault withdraw receiver",
            [call(vault.vault, "withdraw(uint256,address,address)", 10**5, attacker, me)],
            [call(vault.vault, "withdraw(uint256,address,address)", 10**5, me, me)],
            0,
            1,
        ),
        (
            "vault redeem receiver",
            [call(vault.vault, "redeem(uint256,address,address)", 10**5, attacker, me)],
            [call(vault.vault, "redeem(uint256,address,address)", 10**5, me, me)],
            0,
            1,
        ),
        (
            "token transfer",
            [call(usdc, "transfer(address,uint256)", attacker, 10**6)],
            [call(usdc, "transfer(address,uint256)", chain.destinations[0], 10**6)],
            0,
            0,
        ),
    ]


@pytest.mark.parametrize(
    "case",
    [
        "token approve",
        "aave supply onBehalfOf",
        "vault deposit receiver",
        "aave withdraw to",
        "vault withdraw receiver",
        "vault redeem receiver",
        "token transfer",
    ],
)
def test_a_leaked_operator_key_cannot_pay_an_outsider(chain1, case):
    chain, w3, client, _ = chain1
    attacker = Account.create().address
    usdc = chain.token("USDC").address
    mint(w3, usdc, chain.executor, 10 * 10**6)
    cases = {name: rest for name, *rest in _drain_cases(chain, attacker)}
    # Positions to withdraw from, made the legitimate way.
    client.execute(cases["aave supply onBehalfOf"][1] + cases["vault deposit receiver"][1])
    drain, legit, index, word = cases[case]

    with pytest.raises(ExecutionReverted, match=rf"ArgumentNotAllowed\(call {index}: argument {word} is {attacker},"):
        client.execute(drain)
    assert client.execute(legit).status == 1
    assert balance(w3, usdc, attacker) == 0


def test_plain_eth_goes_only_to_a_destination_and_value_only_where_allowed(chain1, reverter, web3s):
    chain, w3, client, _ = chain1
    attacker = Account.create().address
    w3.provider.make_request("anvil_setBalance", [chain.executor, hex(10**18)])
    plain = call(attacker, "ok()").model_copy(update={"data": "0x", "value": 10**17})
    with pytest.raises(ExecutionReverted, match=rf"CallNotAllowed\(call 0: target {attacker}"):
        client.execute([plain])
    treasury = chain.destinations[0]
    before = w3.eth.get_balance(treasury)
    client.execute([plain.model_copy(update={"target": treasury})])
    assert w3.eth.get_balance(treasury) == before + 10**17 and w3.eth.get_balance(attacker) == 0
    allow(w3, chain.executor, reverter.address, "ok()")  # allowed, but not with ETH
    with pytest.raises(ExecutionReverted, match=r"ValueNotAllowed\(0, 1\)"):
        client.execute([call(reverter.address, "ok()", value=1)])


# ---------------------------------------------------------------- balance guards


def test_a_balance_guard_reverts_the_batch_when_the_balance_falls_short(chain1):
    chain, w3, client, _ = chain1
    usdc = chain.token("USDC").address
    treasury = chain.destinations[0]
    mint(w3, usdc, chain.executor, 100)
    start = call(chain.executor, "guardStart(address)", usdc)
    pay = call(usdc, "transfer(address,uint256)", treasury, 30)

    def check(bound):
        return call(chain.executor, "guardCheck(address,int256)", usdc, bound)

    with pytest.raises(
        ExecutionReverted,
        match=rf"BalanceGuard\(call 2: balance of {usdc} moved by -30, less than the bound -29; before 100, after 70\)",
    ):
        client.execute([start, pay, check(-29)])
    assert balance(w3, usdc, chain.executor) == 100
    client.execute([start, pay, check(-30)])
    assert balance(w3, usdc, chain.executor) == 70
    with pytest.raises(ExecutionReverted, match=rf"GuardNotStarted\(0, {ETH}\)"):
        client.execute([call(chain.executor, "guardCheck(address,int256)", ETH, 0)])
    # The executor never calls itself: its admin functions are out of a batch's reach.
    with pytest.raises(ExecutionReverted, match=r"CallNotAllowed\(call 0: target .*selector 0x"):
        client.execute([call(chain.executor, "setOperator(address)", Account.create().address)])


# ---------------------------------------------------------------- roles


def test_the_guardian_pauses_but_cannot_unpause_or_change_anything(chain1, signer):
    chain, w3, client, executor = chain1
    d = Deployer(w3)
    usdc = chain.token("USDC").address
    approve = [call(usdc, "approve(address,uint256)", chain.markets[0].pool, 0)]
    assert refusal(executor.functions.pause(), signer.address) == f"NotGuardian({signer.address})"
    receipt = d.send(executor.functions.pause(), d.guardian)
    assert executor.events.Paused().process_receipt(receipt)[0].args.by == d.guardian
    with pytest.raises(ExecutionReverted, match="ExecutorPaused"):
        client.execute(approve)
    for fn in [
        executor.functions.unpause(),
        executor.functions.setOperator(d.guardian),
        executor.functions.setGuardian(signer.address),
        executor.functions.setListed(DESTINATIONS, [word_of(d.guardian)], True),
        executor.functions.setRules(
            [usdc], [selector("approve(address,uint256)")], [(True, False, False, [], [], 0, 1)]
        ),
        executor.functions.setLossBound((10_000, 0, 10**30, 1)),
        executor.functions.setAttester(d.guardian),
        executor.functions.transferOwnership(d.guardian),
    ]:
        assert refusal(fn, d.guardian) == f"NotOwner({d.guardian})"
    receipt = as_owner(w3, executor.address, [executor.functions.unpause()])
    assert executor.events.Unpaused().process_receipt(receipt, errors=DISCARD)[0].args.by == LOCAL_SAFE
    assert client.execute(approve).status == 1


def test_the_owner_changes_rules_lists_operator_and_guardian_each_with_an_event(chain1, reverter, signer):
    chain, w3, client, executor = chain1
    ok = selector("ok()")
    assert refusal(
        executor.functions.setRules([reverter.address], [ok], [(True, False, False, [], [], 0, 1)]), signer.address
    ) == (f"NotOwner({signer.address})")
    rule = (True, True, False, [(1, 0, 0, 0, bytes(32))], [], 0, 1)
    member, attester, guardian, operator = (Account.create().address for _ in range(4))
    bound = (100, 10**18, 10**21, 86_400)
    # One Safe transaction, each change with its event.
    receipt = as_owner(
        w3,
        executor.address,
        [
            executor.functions.setRules([reverter.address], [ok], [rule]),
            executor.functions.setListed(DESTINATIONS, [word_of(member)], True),
            executor.functions.setLossBound(bound),
            executor.functions.setAttester(attester),
            executor.functions.setGuardian(guardian),
            executor.functions.setOperator(operator),
        ],
    )
    (event,) = executor.events.RuleChanged().process_receipt(receipt, errors=DISCARD)
    assert (event.args.target, event.args.selector, event.args.rule.allowed) == (reverter.address, ok, True)
    assert executor.functions.ruleOf(reverter.address, ok).call() == rule
    assert executor.events.ListChanged().process_receipt(receipt, errors=DISCARD)[0].args.member == word_of(member)
    assert executor.functions.isListed(DESTINATIONS, word_of(member)).call()
    changed = executor.events.LossBoundChanged().process_receipt(receipt, errors=DISCARD)
    assert tuple(changed[0].args.bound.values()) == bound
    assert executor.functions.lossBound().call() == bound
    assert executor.events.AttesterChanged().process_receipt(receipt, errors=DISCARD)[0].args.next == attester
    assert executor.events.GuardianChanged().process_receipt(receipt, errors=DISCARD)[0].args.next == guardian
    assert executor.events.OperatorChanged().process_receipt(receipt, errors=DISCARD)[0].args.next == operator
    for bad in ((10_001, 0, 0, 1), (0, 0, 0, 0)):  # over 100%, or a window of no time
        assert refusal(executor.functions.setLossBound(bad), LOCAL_SAFE) == "InvalidLossBound()"
    as_owner(
        w3,
        executor.address,
        [executor.functions.setRules([reverter.address], [ok], [(False, False, False, [], [], 0, 1)])],
    )
    assert not executor.functions.isAllowed(reverter.address, ok).call()
    assert (executor.functions.guardian().call(), executor.functions.operator().call()) == (guardian, operator)
    with pytest.raises(ExecutionReverted, match=rf"NotOperator\({signer.address}\)"):
        client.execute([call(chain.token("USDC").address, "approve(address,uint256)", chain.markets[0].pool, 0)])


def test_the_stacks_executors_are_owned_by_a_2_of_3_safe(settings, web3s):
    for chain_id, w3 in web3s.items():
        executor = contract(w3, "FloorExecutor", settings.chain(chain_id).executor)
        assert executor.functions.owner().call() == LOCAL_SAFE
        assert safe_module.safe_owners(w3, LOCAL_SAFE) == [w3.eth.accounts[i] for i in OWNER_ACCOUNTS]
        assert safe_module.safe_threshold(w3, LOCAL_SAFE) == THRESHOLD == 2
        # The deployer (anvil's account 0) owns nothing: its owner call reverts.
        admin = Deployer(w3).admin
        assert refusal(executor.functions.setGuardian(admin), admin) == f"NotOwner({admin})"


def test_ownership_moves_only_when_the_new_owner_accepts(chain1, signer):
    _chain, w3, _, executor = chain1
    d = Deployer(w3)
    new_owner = d.participant
    receipt = as_owner(w3, executor.address, [executor.functions.transferOwnership(new_owner)])
    events = executor.events.OwnershipTransferStarted().process_receipt(receipt, errors=DISCARD)
    assert events[0].args.next == new_owner
    assert executor.functions.owner().call() == LOCAL_SAFE  # nothing moved yet
    assert refusal(executor.functions.acceptOwnership(), signer.address) == f"NotPendingOwner({signer.address})"
    receipt = d.send(executor.functions.acceptOwnership(), new_owner)
    assert executor.events.OwnershipTransferred().process_receipt(receipt)[0].args.next == new_owner
    assert executor.functions.owner().call() == new_owner
    assert executor.functions.pendingOwner().call() == ETH
    assert refusal(executor.functions.setGuardian(d.admin), d.admin) == f"NotOwner({d.admin})"


def swap_rules(swaps) -> int:
    """The harvest's sales (floor/swaps): approve of each routed reward token, SwapRouter02's
    exactInputSingle, each Curve pool's exchange."""
    routed = [r for r in swaps.routes if r.venue and r.price_feed] if swaps else []
    uniswap = any(r.venue == "uniswap" for r in routed)
    return len({r.token for r in routed}) + uniswap + len({r.curve_pool for r in routed if r.venue == "curve"})


def curve_rules(curve: list, convex: list) -> int:
    """Curve's pools (add_liquidity, remove_liquidity_one_coin: not the balanced exit), the approve of
    each LP token staked, a gauge's deposit, withdraw and claim_rewards, the Minter's mint;
    Convex's Booster deposit and its reward pools' withdrawAndUnwrap and getReward."""
    pools = {m.pool for m in curve + convex}
    staked_lp = {m.lp_token for m in curve if m.gauge} | {m.lp_token for m in convex}
    gauges = {m.gauge for m in curve if m.gauge}
    minters = {m.minter for m in curve if m.minter}
    return (
        2 * len(pools)
        + len(staked_lp)
        + 3 * len(gauges)
        + len(minters)
        + len({m.booster for m in convex})
        + 2 * len({m.reward_pool for m in convex})
    )


def test_deployment_configures_exactly_what_the_adapters_declare(settings, web3s):
    """Every declared rule and list membership is on chain as declared."""
    for chain in settings.chains:
        executor = contract(web3s[chain.id], "FloorExecutor", chain.executor)
        setup = executor_setup(chain)
        declared = setup.permissions
        # transfer per token, approve per token a market takes (and stETH, which Lido's queue
        # takes), supply and withdraw per pool, Comet and Morpho, deposit, withdraw and redeem
        # per vault, Comet rewards' claim, Lido's submit, request and claim, Rocket Pool's
        # deposit and burn, and WETH's withdraw and deposit once for the staking markets
        of = lambda kind, markets=chain.markets: [m for m in markets if m.adapter == kind]
        approved = {m.asset for m in chain.markets} | {m.steth for m in of("lido")}
        # an instant-exit pool: its exchange, and an approval of rETH (stETH's is counted above)
        instant = [m for m in of("lido") + of("rocket_pool") if m.instant_exit_pool]
        approved |= {m.reth for m in instant if m.adapter == "rocket_pool"}
        pools = {m.pool for m in of("aave_v3")}
        vaults = of("erc4626")
        comets = {m.comet for m in of("compound_v3")}
        rewards = {m.rewards for m in of("compound_v3") if m.rewards}
        morphos = {m.morpho for m in of("morpho_blue")}
        staking = of("lido") + of("rocket_pool") + of("native_eth")
        assert len(declared.rules) == (
            len(chain.tokens)
            + len(approved)
            + 2 * len(pools)
            + 3 * len(vaults)
            + 2 * len(comets)
            + len(rewards)
            + 2 * len(morphos)
            + 3 * len(of("lido"))
            + 2 * len(of("rocket_pool"))
            + len(of("native_eth"))  # the beacon deposit (its exits are listed with the deposit data)
            + 2 * len({m.vault for m in of("balancer_v2")})  # joinPool and exitPool per Balancer Vault
            + curve_rules(of("curve"), of("convex"))
            + (2 if staking else 0)
            + swap_rules(chain.swaps)
            + len({m.instant_exit_pool.address for m in instant})
        )
        for p in declared.rules:
            assert executor.functions.ruleOf(*p.pair).call() == p.as_rule(), p
        for m in declared.members:
            assert executor.functions.isListed(m.list, m.word).call(), m
        for asset_id, asset in setup.asset_tuples():
            assert executor.functions.assetOf(asset_id).call() == asset, asset_id
        assert executor.functions.lossBound().call() == setup.bound.as_tuple()
        usdc = chain.token("USDC").address
        assert not executor.functions.isAllowed(usdc, selector("transferFrom(address,address,uint256)")).call()


def test_the_contract_bounds_match_the_client_check(chain1):
    """A batch at the client's limits passes the contract; one call over the calldata bound
    reverts on chain, which is why the client refuses it first."""
    from floor.batching import MAX_CALL_DATA, MAX_CALLS

    chain, w3, client, _executor = chain1
    usdc = chain.token("USDC").address
    approve = call(usdc, "approve(address,uint256)", chain.markets[0].pool, 0)
    assert client.execute([approve] * MAX_CALLS).calls == MAX_CALLS

    def padded(size: int):  # approve with trailing zeros, which the token ignores
        return approve.model_copy(update={"data": approve.data + "00" * (size - (len(approve.data) - 2) // 2)})

    def eth_call(calls):
        return w3.eth.call({"from": client.signer.address, "to": chain.executor, "data": encode_execute(calls)})

    eth_call([padded(MAX_CALL_DATA)])  # exactly at the bound: runs
    with pytest.raises(ContractLogicError) as caught:  # one byte over: Vyper's bound check, no reason
        eth_call([padded(MAX_CALL_DATA + 1)])
    assert decode_revert(caught.value.data) == "reverted without data"
    with pytest.raises(ContractLogicError):
        eth_call([approve] * (MAX_CALLS + 1))
