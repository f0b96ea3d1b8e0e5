"""Aave V3's supply cap counts what the treasury is owed, including the share of interest the
pool adds when it brings the reserve up to date at the start of the supply (V3.5's
`ReserveLogic._accrueToTreasury`, then `ValidationLogic.validateSupply`). The engine's
pre-check does the same at the quote's block: a deposit that fits by the stored figures but
not once the treasury's share is accrued is refused by name before anything is signed, and
one that fits lands. The stand-in pool keeps a reserve factor and accrues to the treasury as
Aave does, to the base unit."""

from __future__ import annotations

import dataclasses

import pytest
from temporalio.exceptions import ApplicationError

from activities.chain import ChainActivities
from activities.deps import Deps
from floor.adapters.base import Deposit
from floor.adapters.registry import AdapterRegistry
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.devnet.context import Deployer
from floor.messages import BuildDepositsInput
from floor.models import AdapterKey
from floor.planning.allocation import PlannedDeposit
from floor.protocols.aave_v3.errors import SupplyCapExceeded
from floor.protocols.aave_v3.reserve import (
    ACCRUED_TO_TREASURY,
    CURRENT_LIQUIDITY_RATE,
    RESERVE_FACTOR_BITS,
    RESERVE_FACTOR_START_BIT,
    SUPPLY_CAP_BITS,
    SUPPLY_CAP_START_BIT,
    VARIABLE_BORROW_INDEX,
    VARIABLE_DEBT_TOKEN,
)
from floor.protocols.aave_v3.wadray import RAY, a_token_balance, percent_mul, treasury_accrual
from tests.integration.helpers import advance_time, contract, mint, protected_calls

AAVE_USDC = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
USDC = 10**6
DAY = 24 * 3600
RESERVE_FACTOR = 5_000  # 50.00%: the treasury's share dwarfs a few seconds' interest
CURRENT_VARIABLE_BORROW_RATE = 4
LIQUIDITY_INDEX = 1


class CountingSigner:
    """The session's signer, counting what it is asked to sign."""

    def __init__(self, inner):
        self.inner, self.signed = inner, 0

    @property
    def address(self) -> str:
        return self.inner.address

    def sign_transaction(self, tx):
        self.signed += 1
        return self.inner.sign_transaction(tx)


def configure(w3, adapter, field_start: int, field_bits: int, value: int) -> None:
    """What Aave's PoolConfigurator does: rewrite one field of the reserve's bitmap."""
    pool = contract(w3, "AaveV3Pool", adapter.pool)
    (word,) = pool.functions.getConfiguration(adapter.asset.address).call()
    mask = (2**field_bits - 1) << field_start
    Deployer(w3).send(pool.functions.setConfiguration(adapter.asset.address, ((word & ~mask) | value << field_start,)))


def ray_mul(a: int, b: int) -> int:
    return (a * b + RAY // 2) // RAY


def ray_div(a: int, b: int) -> int:
    return (a * RAY + b // 2) // b


@pytest.fixture
def aave(stack, settings, web3s, signer):
    w3, chain = web3s[1], settings.chain(1)
    adapter = AdapterRegistry.from_settings(settings).get(AAVE_USDC)
    pool = contract(w3, "AaveV3Pool", adapter.pool)
    debt_token = contract(w3, "AaveVariableDebtToken", adapter.variable_debt_token)
    return w3, chain, adapter, pool, debt_token


def test_the_stand_in_nets_the_reserve_factor_out_of_the_rate_and_accrues_the_treasurys_share(aave):
    w3, _chain, adapter, pool, debt_token = aave
    asset = adapter.asset.address
    # The deploy hook wrote the debt token the pool deployed into the market config.
    assert pool.functions.getReserveData(asset).call()[VARIABLE_DEBT_TOKEN] == adapter.variable_debt_token
    assert debt_token.functions.scaledTotalSupply().call() > 0  # the participant's borrow
    assert pool.functions.getReserveData(asset).call()[ACCRUED_TO_TREASURY] == 0  # no reserve factor yet

    def check_rates() -> None:
        """The suppliers' rate is the borrowers' times the utilisation, net of the reserve
        factor, with the debt as the debt token holds it after the last action."""
        reserve = pool.functions.getReserveData(asset).call()
        debt = ray_mul(debt_token.functions.scaledTotalSupply().call(), reserve[VARIABLE_BORROW_INDEX])
        usage = ray_div(debt, pool.functions.getVirtualUnderlyingBalance(asset).call() + debt)
        expected = percent_mul(ray_mul(reserve[CURRENT_VARIABLE_BORROW_RATE], usage), 10_000 - RESERVE_FACTOR)
        assert reserve[CURRENT_LIQUIDITY_RATE] == expected > 0

    configure(w3, adapter, RESERVE_FACTOR_START_BIT, RESERVE_FACTOR_BITS, RESERVE_FACTOR)
    check_rates()
    participant = Deployer(w3).participant
    scaled_debt = debt_token.functions.scaledTotalSupply().call()
    Deployer(w3).send(pool.functions.borrow(asset, 1_000 * USDC, 2, 0, participant), participant)
    assert debt_token.functions.scaledTotalSupply().call() > scaled_debt
    check_rates()

    advance_time(w3, 30 * DAY)
    # A supply brings the reserve up to date: the treasury's share of the debt's growth.
    mint(w3, asset, participant, 1_000 * USDC)
    Deployer(w3).send(contract(w3, "TestERC20", asset).functions.approve(adapter.pool, 1_000 * USDC), participant)
    before = w3.eth.block_number
    receipt = Deployer(w3).send(pool.functions.supply(asset, 1_000 * USDC, participant, 0), participant)
    old = pool.functions.getReserveData(asset).call(block_identifier=before)
    new = pool.functions.getReserveData(asset).call(block_identifier=receipt.blockNumber)
    scaled_debt = debt_token.functions.scaledTotalSupply().call(block_identifier=before)
    accrued = treasury_accrual(
        scaled_debt, old[VARIABLE_BORROW_INDEX], new[VARIABLE_BORROW_INDEX], RESERVE_FACTOR, new[LIQUIDITY_INDEX]
    )
    assert accrued > 0 and new[ACCRUED_TO_TREASURY] == old[ACCRUED_TO_TREASURY] + accrued


def test_a_deposit_that_fits_only_by_the_stored_figures_is_refused_before_signing(aave, settings, web3s, signer):
    w3, chain, adapter, pool, debt_token = aave
    asset, a_token = adapter.asset.address, contract(w3, "AaveAToken", adapter.a_token)
    configure(w3, adapter, RESERVE_FACTOR_START_BIT, RESERVE_FACTOR_BITS, RESERVE_FACTOR)
    advance_time(w3, 30 * DAY)
    mint(w3, asset, chain.executor, 1_000_000 * USDC)

    # The pool's figures now, and the treasury's share its next update will add.
    block = w3.eth.block_number
    reserve = pool.functions.getReserveData(asset).call(block_identifier=block)
    index = pool.functions.getReserveNormalizedIncome(asset).call(block_identifier=block)
    borrow_index = pool.functions.getReserveNormalizedVariableDebt(asset).call(block_identifier=block)
    scaled_supply = a_token.functions.scaledTotalSupply().call(block_identifier=block)
    scaled_debt = debt_token.functions.scaledTotalSupply().call(block_identifier=block)
    stored = scaled_supply + reserve[ACCRUED_TO_TREASURY]
    accruing = treasury_accrual(scaled_debt, reserve[VARIABLE_BORROW_INDEX], borrow_index, RESERVE_FACTOR, index)
    owed = a_token_balance(stored + accruing, index) - a_token_balance(stored, index)
    assert owed > 100 * USDC, owed  # the treasury's share of 30 days' interest

    # A cap about 1,000 USDC above the supply with the treasury's share accrued.
    cap = a_token_balance(stored + accruing, index) // USDC + 1_000
    configure(w3, adapter, SUPPLY_CAP_START_BIT, SUPPLY_CAP_BITS, cap)
    room = cap * USDC - a_token_balance(stored + accruing, index)
    too_much = room + owed // 2  # fits by the stored figures, not once the share is accrued
    assert too_much < cap * USDC - a_token_balance(stored, index)

    # By the stored figures alone (no debt token to read) the deposit would pass the check...
    blind = dataclasses.replace(adapter, variable_debt_token=None)
    calls = protected_calls(w3, blind, Deposit(too_much), chain.executor)
    # ...and the pool, which accrues first, refuses it at estimation: no nonce used.
    counting = CountingSigner(signer)
    client = ExecutorClient(w3, 1, chain.executor, counting)
    nonce = w3.eth.get_transaction_count(signer.address)
    with pytest.raises(ExecutionReverted) as reverted:
        client.execute(calls)
    assert reverted.value.error == "SupplyCapExceeded" and "SupplyCapExceeded()" in reverted.value.reason
    assert counting.signed == 0 and w3.eth.get_transaction_count(signer.address) == nonce

    # The engine's check accrues the treasury's share first and refuses it by name.
    with pytest.raises(SupplyCapExceeded, match=f"supply cap of {cap} whole tokens"):
        protected_calls(w3, adapter, Deposit(too_much), chain.executor)
    activities = ChainActivities(Deps(settings, counting, web3s))
    deposit = PlannedDeposit(key=AAVE_USDC, amount=too_much)
    with pytest.raises(ApplicationError) as refused:
        activities.build_deposit_calls(BuildDepositsInput(chain_id=1, asset="USDC", deposits=[deposit]))
    assert refused.value.type == "SupplyCapExceeded" and refused.value.non_retryable
    assert counting.signed == 0 and w3.eth.get_transaction_count(signer.address) == nonce

    # One that fits with the share accrued (less a margin for the seconds until it is mined)
    # is accepted and mined.
    fits = room - USDC
    (group,) = activities.build_deposit_calls(
        BuildDepositsInput(chain_id=1, asset="USDC", deposits=[PlannedDeposit(key=AAVE_USDC, amount=fits)])
    )
    held = a_token.functions.balanceOf(chain.executor).call()
    before = w3.eth.block_number
    mined = client.execute(group)
    assert counting.signed == 1
    assert a_token.functions.balanceOf(chain.executor).call(block_identifier=mined.block_number) >= held + fits - 2

    # The pool accrued the treasury's share exactly as the engine's model says, and the
    # reserve with what the treasury is owed sits under the cap.
    old = pool.functions.getReserveData(asset).call(block_identifier=before)
    new = pool.functions.getReserveData(asset).call(block_identifier=mined.block_number)
    scaled_debt = debt_token.functions.scaledTotalSupply().call(block_identifier=before)
    accrued = treasury_accrual(
        scaled_debt, old[VARIABLE_BORROW_INDEX], new[VARIABLE_BORROW_INDEX], RESERVE_FACTOR, new[LIQUIDITY_INDEX]
    )
    assert new[ACCRUED_TO_TREASURY] == old[ACCRUED_TO_TREASURY] + accrued > reserve[ACCRUED_TO_TREASURY]
    total = a_token.functions.scaledTotalSupply().call(block_identifier=mined.block_number)
    assert (
        cap * USDC - 2 * USDC <= a_token_balance(total + new[ACCRUED_TO_TREASURY], new[LIQUIDITY_INDEX]) <= cap * USDC
    )
