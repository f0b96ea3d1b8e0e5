"""Protocol packages: discovered, each the one home of its adapter, market config, errors and
stand-ins; Aave V3's reserve state, V3.5 rounding and errors; ERC-4626's liquidity; read plans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from floor.adapters.base import MAX_UINT256, RAY, Asset, Deposit, LiquidityReading, PositionReading, Withdraw
from floor.calls import ReadResult, read, selector
from floor.chain.executor import decode_revert, named_revert
from floor.config import ConfigError, MarketConfig, load_settings
from floor.errors import InsufficientBalance, InsufficientLiquidity, InvalidAmount
from floor.guards import Expected
from floor.models import AdapterKey
from floor.protocols import adapter_kinds, known_reverts, protocol, protocols
from floor.protocols.aave_v3 import AaveV3Adapter, AaveV3MarketConfig
from floor.protocols.aave_v3.errors import ReserveFrozen, ReserveInactive, ReservePaused, SupplyCapExceeded
from floor.protocols.aave_v3.reserve import RESERVE_DATA, ReserveFlags
from floor.protocols.aave_v3.wadray import a_token_balance, a_token_burn_scaled, a_token_mint_scaled
from floor.protocols.erc4626 import Erc4626Adapter, Erc4626MarketConfig
from floor.protocols.erc4626.errors import ExceededMaxDeposit
from floor.readplan import ReadPlan

ROOT = Path(__file__).resolve().parents[2]
USDC = Asset("USDC", "0x" + "aa" * 20, 6)
POOL, ATOKEN, VAULT, ME = "0x" + "bb" * 20, "0x" + "cc" * 20, "0x" + "dd" * 20, "0x" + "ee" * 20
aave = AaveV3Adapter(
    key=AdapterKey(chain_id=1, protocol="aave-v3", market="USDC"), asset=USDC, pool=POOL, a_token=ATOKEN
)
vault = Erc4626Adapter(key=AdapterKey(chain_id=1, protocol="metamorpho", market="steakUSDC"), asset=USDC, vault=VAULT)
ACTIVE = ReserveFlags(active=True, frozen=False, paused=False, decimals=6, supply_cap=0)
FAILED = ReadResult(False, b"")


def ok(*values, types=None):
    return ReadResult(True, encode(types or ["uint256"] * len(values), list(values)))


def reserve_data(flags: ReserveFlags = ACTIVE, accrued: int = 0):
    reserve = ((flags.bitmap(),), RAY, 0, RAY, 0, 0, 0, 0, ATOKEN, ATOKEN, ATOKEN, ATOKEN, accrued, 0, 0)
    return ok(reserve, types=[RESERVE_DATA])


def error(signature: str, *args, types=()) -> bytes:
    return selector(signature) + (encode(list(types), list(args)) if types else b"")


def failed_call(index: int, inner: bytes) -> bytes:
    return error("CallFailed(uint256,bytes)", index, inner, types=["uint256", "bytes"])


# ---------------------------------------------------------------------------- discovery and layout


def test_every_protocol_package_is_discovered_with_its_parts():
    packages = sorted(p.name for p in (ROOT / "floor" / "protocols").iterdir() if (p / "__init__.py").exists())
    assert adapter_kinds() == tuple(packages)  # every package on disk, in name order
    assert {"aave_v3", "compound_v3", "erc4626", "lido", "morpho_blue", "rocket_pool"} <= set(adapter_kinds())
    aave_spec, vault_spec = protocol("aave_v3"), protocol("erc4626")
    assert aave_spec.market_config is AaveV3MarketConfig and vault_spec.market_config is Erc4626MarketConfig
    assert aave_spec.contracts == ("AaveV3Pool", "AaveAToken") and vault_spec.contracts == ("ERC4626Vault",)
    for spec in protocols().values():
        assert spec.reverts, spec.adapter
        hook = spec.deploy_hook()  # importable (it needs web3, only when deploying)
        assert hook.__module__ == f"floor.protocols.{spec.adapter}.deploy"


def test_each_stand_in_a_package_names_is_a_contract_in_the_sources():
    sources = "\n".join(p.read_text() for p in (ROOT / "contracts" / "src").rglob("*.sol"))
    vyper = {p.stem for p in (ROOT / "contracts" / "src").rglob("*.vy")}  # a Vyper contract is named after its file
    for spec in protocols().values():
        for name in spec.contracts:
            assert name in vyper or re.search(rf"^contract {name}\b", sources, re.MULTILINE), (spec.adapter, name)


def test_adapters_live_only_in_their_protocol_packages():
    assert not (ROOT / "floor" / "adapters" / "aave_v3.py").exists()
    assert not (ROOT / "floor" / "adapters" / "erc4626.py").exists()
    for path in [*ROOT.glob("[cfaws]*/**/*.py"), *ROOT.glob("tests/**/*.py")]:
        if ".venv" in path.parts or path == Path(__file__).resolve():
            continue
        text = path.read_text()
        assert "floor.adapters.aave_v3" not in text and "floor.adapters.erc4626" not in text, path


def test_adapter_and_config_modules_import_no_web3():
    """They run inside Temporal's workflow sandbox; only a package's deploy hook may need web3."""
    for spec in protocols().values():
        folder = ROOT / "floor" / "protocols" / spec.adapter
        for path in folder.glob("*.py"):
            if path.name != "deploy.py":
                assert not re.search(r"^\s*(from|import) web3\b", path.read_text(), re.MULTILINE), path


# ---------------------------------------------------------------------------- market configs

MARKETS = TypeAdapter(list[MarketConfig])


def test_market_dicts_load_into_their_protocol_config():
    aave_market, vault_market = MARKETS.validate_python(
        [
            {
                "protocol": "spark",
                "adapter": "aave_v3",
                "market": "DAI",
                "asset": "DAI",
                "pool": POOL,
                "a_token": ATOKEN,
            },
            {"protocol": "sdai", "adapter": "erc4626", "market": "sDAI", "asset": "DAI", "vault": VAULT},
        ]
    )
    assert isinstance(aave_market, AaveV3MarketConfig) and aave_market.key == ("spark", "DAI")
    assert isinstance(vault_market, Erc4626MarketConfig) and vault_market.vault == to_checksum_address(VAULT)
    assert aave_market.model_dump()["a_token"] == to_checksum_address(ATOKEN)


def test_a_market_takes_only_its_own_protocols_fields():
    with pytest.raises(ValidationError, match="vault"):
        MARKETS.validate_python(
            [
                {
                    "protocol": "x",
                    "adapter": "aave_v3",
                    "market": "m",
                    "asset": "A",
                    "pool": POOL,
                    "a_token": ATOKEN,
                    "vault": VAULT,
                }
            ]
        )


KNOWN = ", ".join(repr(kind) for kind in adapter_kinds())  # the known adapters, as the error lists them
MARKET_TOML = """
[[chains]]
id = 1
name = "ethereum"
rpc_urls = ["https://rpc.example.invalid"]

[[chains.tokens]]
symbol = "USDC"
address = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
decimals = 6

[[chains.markets]]
protocol = "metamorpho"
market = "steakUSDC"
asset = "USDC"
{lines}
"""


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ('adapter = "erc4626"', "chains.0.markets.0.vault: required for adapter 'erc4626'"),
        (
            'vault = "0x000000000000000000000000000000000000000a"',
            f"chains.0.markets.0.adapter: field required (one of {KNOWN})",
        ),
        (
            'adapter = "compound"\nvault = "0x000000000000000000000000000000000000000a"',
            f"chains.0.markets.0.adapter: unknown adapter 'compound' (one of {KNOWN})",
        ),
    ],
)
def test_market_config_errors_name_the_field(tmp_path, monkeypatch, lines, problem):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "floor.toml"
    path.write_text(MARKET_TOML.format(lines=lines))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [problem]


# ---------------------------------------------------------------------------- read plans


def test_a_read_plan_hands_each_segment_its_own_results_and_sends_shared_reads_once():
    balance = read(USDC.address, "balanceOf(address)", ME)
    plan = ReadPlan()
    plan.add("idle", [balance])
    plan.add(("position", 0), aave.position_reads(ME))
    plan.add(("liquidity", 0), aave.liquidity_reads(ME))  # starts with the position read again
    plan.add(("empty", 0), [])
    assert len(plan) == 1 + 4 and plan.calls[0] == balance
    results = plan.results([ok(i) for i in range(len(plan))])
    assert results["idle"] == [ok(0)]
    assert results["position", 0] == [ok(1)]
    assert results["liquidity", 0] == [ok(1), ok(2), ok(3), ok(4)]
    assert results["empty", 0] == []
    with pytest.raises(KeyError, match="no read segment 'other'"):
        results["other"]


def test_a_read_plan_refuses_a_name_twice_and_results_that_do_not_fit():
    plan = ReadPlan()
    plan.add("a", [read(USDC.address, "decimals()")])
    with pytest.raises(ValueError, match="planned twice"):
        plan.add("a", [])
    with pytest.raises(ValueError, match="2 results for a plan of 1 reads"):
        plan.results([ok(1), ok(2)])


# ---------------------------------------------------------------------------- Aave V3: reserve state


def test_reserve_flags_read_aaves_bit_positions():
    assert ReserveFlags.of(1 << 56) == ReserveFlags(True, False, False, 0, 0)
    assert ReserveFlags.of(1 << 57).frozen and ReserveFlags.of(1 << 60).paused
    assert not ReserveFlags.of(1 << 58).frozen and not ReserveFlags.of(1 << 59).paused  # borrowing, a hole
    assert ReserveFlags.of(6 << 48).decimals == 6
    assert ReserveFlags.of(2_000_000 << 116).supply_cap == 2_000_000
    assert ReserveFlags.of((2**36 - 1) << 116 | 1 << 152).supply_cap == 2**36 - 1  # bit 152: the next field
    word = (1 << 56) | (1 << 60) | (18 << 48) | (5 << 116) | (1 << 252)
    assert ReserveFlags.of(word) == ReserveFlags(active=True, frozen=False, paused=True, decimals=18, supply_cap=5)


def deposit_quote(flags: ReserveFlags = ACTIVE, amount: int = 1_000, index: int = RAY, supplied: int = 0, accrued=0):
    return aave.decode_quote(Deposit(amount), [reserve_data(flags, accrued), ok(index), ok(supplied)])


def test_aave_deposit_reads_the_reserve_index_and_supply():
    wanted = [
        selector("getReserveData(address)"),
        selector("getReserveNormalizedIncome(address)"),
        selector("scaledTotalSupply()"),
    ]
    assert [r.data[:4] for r in aave.quote_reads(Deposit(1), ME)] == wanted
    assert aave.quote_reads(Withdraw(1), ME) == []


@pytest.mark.parametrize(
    ("flags", "refusal"),
    [
        (ReserveFlags(active=False, frozen=False, paused=False, decimals=6, supply_cap=0), ReserveInactive),
        (ReserveFlags(active=True, frozen=False, paused=True, decimals=6, supply_cap=0), ReservePaused),
        (ReserveFlags(active=True, frozen=True, paused=False, decimals=6, supply_cap=0), ReserveFrozen),
        (ReserveFlags(active=True, frozen=True, paused=True, decimals=6, supply_cap=0), ReservePaused),  # Aave's order
    ],
)
def test_aave_deposits_into_a_reserve_that_refuses_them_are_refused_by_name(flags, refusal):
    with pytest.raises(refusal, match="1:aave-v3:USDC: the reserve is"):
        deposit_quote(flags)


def test_aave_deposits_must_fit_under_the_supply_cap():
    capped = ReserveFlags(active=True, frozen=False, paused=False, decimals=6, supply_cap=10)  # 10 USDC
    index = RAY * 11 // 10
    supplied = a_token_mint_scaled(4_000_000, index)  # 4 USDC supplied, 6 left
    assert a_token_balance(supplied, index) == 3_999_999  # rounded down: 6000001 left
    assert deposit_quote(capped, 6_000_001, index, supplied)
    with pytest.raises(SupplyCapExceeded, match="supply cap of 10 whole tokens; about 6000001 base units are left"):
        deposit_quote(capped, 6_000_002, index, supplied)
    # What is owed to the treasury counts towards the cap, as in ValidationLogic.validateSupply.
    with pytest.raises(SupplyCapExceeded, match="about 0 base units are left"):
        deposit_quote(capped, 2, index, supplied, accrued=a_token_mint_scaled(6_000_002, index))


def test_aave_deposit_that_mints_nothing_is_refused():
    with pytest.raises(InvalidAmount, match="mints no aToken"):
        deposit_quote(amount=1, index=2 * RAY)


# ---------------------------------------------------------------------------- Aave V3: V3.5 rounding


def test_v35_rounds_scaled_amounts_in_the_protocols_favour():
    index = RAY * 3 // 2
    assert a_token_mint_scaled(10, index) == 6  # 6.67 down
    assert a_token_burn_scaled(10, index) == 7  # 6.67 up
    assert a_token_balance(7, index) == 10  # 10.5 down
    assert a_token_burn_scaled(15, index) == a_token_mint_scaled(15, index) == 10  # exact either way


@given(
    amount=st.integers(50, 10**30),  # at least one scaled unit at any index up to 50
    index=st.integers(RAY, 50 * RAY),
    before=st.integers(0, 10**30),
)
def test_the_deposit_quote_bounds_the_balance_rise_under_v35_and_half_up_rounding(amount, index, before):
    (quote,) = deposit_quote(amount=amount, index=index)
    # V3.5: mint floor(amount / index), balances floor(scaled * index).
    scaled = a_token_mint_scaled(amount, index)
    rise = a_token_balance(before + scaled, index) - a_token_balance(before, index)
    assert quote.delta <= rise <= amount
    # Before V3.5: both rounded half up.
    half_up_scaled = (amount * RAY + index // 2) // index
    half_up = lambda s: (s * index + RAY // 2) // RAY
    assert quote.delta <= half_up(before + half_up_scaled) - half_up(before)


def test_a_full_withdrawal_of_the_balance_never_burns_more_than_is_held():
    for index in (RAY, RAY * 3 // 2, RAY + 12345, 7 * RAY // 3):
        for scaled in (1, 7, 10**6 + 1, 123_456_789):
            assert a_token_burn_scaled(a_token_balance(scaled, index), index) <= scaled


# ---------------------------------------------------------------------------- Aave V3: liquidity


def aave_liquidity(position=500, flags=ACTIVE, virtual: ReadResult | None = None, held: ReadResult | None = None):
    return aave.decode_liquidity([ok(position), reserve_data(flags), virtual or ok(300), held or ok(900)])


def test_aave_liquidity_is_the_virtual_balance_not_what_the_atoken_holds():
    reads = aave.liquidity_reads(ME)
    assert [r.data[:4] for r in reads[1:3]] == [
        selector("getReserveData(address)"),
        selector("getVirtualUnderlyingBalance(address)"),
    ]
    # 900 held (600 sent straight to the aToken), 300 withdrawable: the virtual balance.
    assert aave_liquidity() == LiquidityReading(position=500, market_available=300, withdrawable=300)


def test_aave_liquidity_falls_back_to_the_atokens_holdings_on_a_pool_without_virtual_balance():
    assert aave_liquidity(virtual=FAILED, held=ok(450)) == LiquidityReading(500, 450, 450)


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (ReserveFlags(active=True, frozen=False, paused=True, decimals=6, supply_cap=0), "the reserve is paused"),
        (ReserveFlags(active=False, frozen=False, paused=False, decimals=6, supply_cap=0), "the reserve is not active"),
    ],
)
def test_a_paused_or_inactive_aave_reserve_lets_nothing_out(flags, reason):
    assert aave_liquidity(flags=flags) == LiquidityReading(500, 300, 0, reason=reason)


def test_a_frozen_aave_reserve_still_lets_withdrawals_out():
    frozen = ReserveFlags(active=True, frozen=True, paused=False, decimals=6, supply_cap=0)
    assert aave_liquidity(flags=frozen).withdrawable == 300


# ---------------------------------------------------------------------------- Aave V3: errors


@pytest.mark.parametrize(
    ("code", "name", "engine_error"),
    [
        ("26", "InvalidAmount", InvalidAmount),
        ("27", "ReserveInactive", ReserveInactive),
        ("28", "ReserveFrozen", ReserveFrozen),
        ("29", "ReservePaused", ReservePaused),
        ("32", "NotEnoughAvailableUserBalance", InsufficientBalance),
        ("51", "SupplyCapExceeded", SupplyCapExceeded),
    ],
)
def test_aave_reverts_decode_to_named_errors_as_string_codes_and_as_custom_errors(code, name, engine_error):
    before_34 = error("Error(string)", code, types=["string"])
    from_34 = error(f"{name}()")
    for data in (before_34, from_34, failed_call(1, before_34), failed_call(1, from_34)):
        found = named_revert(data)
        assert found is not None and found.name == name and found.error is engine_error
        assert engine_error.__name__ in decode_revert(data) and "Aave V3" in decode_revert(data)
    assert decode_revert(before_34).startswith(f"{code}: {engine_error.__name__}, ")
    assert decode_revert(failed_call(1, from_34)).startswith(f"CallFailed(call 1): {name}(): {engine_error.__name__}, ")


def test_aave_v302_code_32_is_the_withdrawal_beyond_the_balance():
    data = error("Error(string)", "32", types=["string"])
    assert decode_revert(data) == (
        "32: InsufficientBalance, cannot withdraw more than the available balance (Aave V3 error NotEnoughAvailableUserBalance)"
    )


def test_the_underflow_of_a_withdrawal_beyond_liquidity_is_readable_and_not_a_protocol_error():
    panic = error("Panic(uint256)", 0x11, types=["uint256"])
    assert decode_revert(failed_call(0, panic)) == "CallFailed(call 0): Panic(0x11: arithmetic overflow or underflow)"
    assert named_revert(failed_call(0, panic)) is None
    assert named_revert(error("Error(string)", "not a code", types=["string"])) is None
    assert decode_revert(error("Error(string)", "Reverter: fail", types=["string"])) == "Reverter: fail"


def test_no_selector_or_code_means_two_things():
    selectors = [r.selector for _, r in known_reverts() if r.selector]
    codes = [r.code for _, r in known_reverts() if r.code]
    assert len(selectors) == len(set(selectors)) and len(codes) == len(set(codes))


# ---------------------------------------------------------------------------- ERC-4626


def test_vault_liquidity_is_max_withdraw_not_idle_assets():
    reads = vault.liquidity_reads(ME)
    assert selector("maxWithdraw(address)") in [r.data[:4] for r in reads]
    assert read(USDC.address, "balanceOf(address)", VAULT) not in reads  # idle assets are not read at all
    # A MetaMorpho vault holding nothing idle still pays out what maxWithdraw says.
    reading = vault.decode_liquidity([ok(900), ok(900), ok(1_000), ok(RAY * 10 // 9)])
    assert reading == LiquidityReading(position=1_000, market_available=1_000, withdrawable=1_000)
    capped = vault.decode_liquidity([ok(900), ok(100), ok(111), ok(RAY * 10 // 9)])
    assert capped == LiquidityReading(position=999, market_available=111, withdrawable=111)


def test_vault_deposit_above_max_deposit_is_refused_before_sending():
    assert vault.decode_quote(Deposit(10), [ok(9), ok(10)]) == [Expected(VAULT, 9)]
    with pytest.raises(
        ExceededMaxDeposit, match="a deposit of 11 base units is more than the vault takes now \\(10\\)"
    ):
        vault.decode_quote(Deposit(11), [ok(10), ok(10)])
    assert vault.decode_quote(Deposit(11), [ok(10), ok(MAX_UINT256)]) == [Expected(VAULT, 10)]


def test_openzeppelin_vault_errors_decode_to_named_errors():
    owner = "0x" + "11" * 20
    data = error(
        "ERC4626ExceededMaxWithdraw(address,uint256,uint256)", owner, 5, 4, types=["address", "uint256", "uint256"]
    )
    assert named_revert(failed_call(0, data)).error is InsufficientLiquidity
    assert decode_revert(failed_call(0, data)).startswith(
        "CallFailed(call 0): ERC4626ExceededMaxWithdraw(0x1111111111111111111111111111111111111111, 5, 4): "
        "InsufficientLiquidity, "
    )
    deposit = error(
        "ERC4626ExceededMaxDeposit(address,uint256,uint256)", owner, 5, 4, types=["address", "uint256", "uint256"]
    )
    assert named_revert(deposit).error is ExceededMaxDeposit


def test_withdraw_all_needs_shares():
    with pytest.raises(InvalidAmount, match="no shares to redeem"):
        vault.withdraw_all_calls(PositionReading(amount=0, shares=0), ME)
