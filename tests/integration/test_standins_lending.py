"""The Compound III (Comet, CometRewards) and Morpho Blue stand-ins on a fresh anvil of their own:
each protocol's arithmetic is reproduced here in Python from its source (Comet's indices and reward
tracking, Morpho's shares and wTaylorCompounded interest) and must match the chain to the wei, and
the reverts are the real ones (Comet's custom errors, Morpho's strings). Blocks are pinned to chosen
timestamps so every expected value is computed before the transaction that produces it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_abi import encode
from eth_utils import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from floor.devnet.context import Deployer
from tests.integration.helpers import own_anvil

pytestmark = pytest.mark.integration

CHAIN_ID = 31_996
WAD = 10**18
DAY = 24 * 3600
USDC = 10**6
MAX_UINT = 2**256 - 1


# ---------------------------------------------------------------- chain fixtures and helpers


@pytest.fixture(scope="module")
def w3(tmp_path_factory) -> Iterator[Web3]:
    with own_anvil(tmp_path_factory, CHAIN_ID, "lending") as url:
        yield Web3(HTTPProvider(url))


@pytest.fixture(autouse=True)
def _isolated(w3, compound, morpho_blue) -> Iterator[None]:
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
    return {"governor": a[0], "participant": a[2], "guardian": a[3], "supplier": a[5], "borrower": a[6], "other": a[7]}


def pin_next_block(w3: Web3, seconds_from_latest: int) -> int:
    """The next block's timestamp, fixed now so that expected values can be computed first."""
    ts = w3.eth.get_block("latest")["timestamp"] + seconds_from_latest
    w3.provider.make_request("evm_setNextBlockTimestamp", [ts])
    return ts


def mine_after(w3: Web3, seconds: int) -> int:
    ts = pin_next_block(w3, seconds)
    w3.provider.make_request("evm_mine", [])
    return ts


def fund(d: Deployer, token, holder: str, amount: int, spender: str) -> None:
    d.send(token.functions.mint(holder, amount))
    d.send(token.functions.approve(spender, amount), holder)


def revert_data(fn, sender: str) -> str:
    """The raw revert data of a call (a custom error's selector and arguments)."""
    with pytest.raises(ContractLogicError) as caught:
        fn.call({"from": sender})
    data = caught.value.data
    return data if isinstance(data, str) else "0x" + bytes(data).hex()


def error(signature: str, types: list[str] | None = None, args: list | None = None) -> str:
    return "0x" + (keccak(text=signature)[:4] + encode(types or [], args or [])).hex()


def event_args(contract, receipt, name: str) -> dict:
    """The one `name` event the contract emitted in the transaction (other contracts' logs are skipped)."""
    (log,) = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return dict(log["args"])


# ---------------------------------------------------------------- Comet, modelled from its source


SECONDS_PER_YEAR = 31_536_000
BASE_INDEX_SCALE = 10**15
FACTOR_SCALE = 10**18

COMET_CONFIG = {
    "supplyKink": 85 * 10**16,
    "supplyPerYearInterestRateSlopeLow": 5 * 10**16,
    "supplyPerYearInterestRateSlopeHigh": 2 * 10**18,
    "supplyPerYearInterestRateBase": 0,
    "borrowKink": 85 * 10**16,
    "borrowPerYearInterestRateSlopeLow": 6 * 10**16,
    "borrowPerYearInterestRateSlopeHigh": 3 * 10**18,
    "borrowPerYearInterestRateBase": 15 * 10**15,
    "trackingIndexScale": 10**15,
    "baseTrackingSupplySpeed": 810_185_185_185,  # about 70 COMP a day
    "baseTrackingBorrowSpeed": 810_185_185_185,
    "baseMinForRewards": 1_000 * USDC,
    "baseBorrowMin": 100 * USDC,
    "targetReserves": 5_000_000 * USDC,
}


class CometModel:
    """Comet's interest and reward accrual (accrueInternal, updateBasePrincipal) in Python."""

    def __init__(self, comet):
        f = comet.functions
        self.comet = comet
        self.supply = (
            f.supplyKink().call(),
            f.supplyPerSecondInterestRateSlopeLow().call(),
            f.supplyPerSecondInterestRateSlopeHigh().call(),
            f.supplyPerSecondInterestRateBase().call(),
        )
        self.borrow = (
            f.borrowKink().call(),
            f.borrowPerSecondInterestRateSlopeLow().call(),
            f.borrowPerSecondInterestRateSlopeHigh().call(),
            f.borrowPerSecondInterestRateBase().call(),
        )
        self.base_scale = f.baseScale().call()
        self.tracking_scale = f.trackingIndexScale().call()
        self.supply_speed = f.baseTrackingSupplySpeed().call()
        self.borrow_speed = f.baseTrackingBorrowSpeed().call()
        self.min_for_rewards = f.baseMinForRewards().call()
        self.descale = self.base_scale // 10**6

    @staticmethod
    def kinked(params, utilization: int) -> int:
        kink, low, high, base = params
        if utilization <= kink:
            return base + low * utilization // FACTOR_SCALE
        return base + low * kink // FACTOR_SCALE + high * (utilization - kink) // FACTOR_SCALE

    def totals(self) -> dict:
        keys = ("si", "bi", "tsi", "tbi", "supply_base", "borrow_base", "last", "flags")
        return dict(zip(keys, self.comet.functions.totalsBasic().call(), strict=True))

    @staticmethod
    def utilization(t: dict) -> int:
        supplied = t["supply_base"] * t["si"] // BASE_INDEX_SCALE
        borrowed = t["borrow_base"] * t["bi"] // BASE_INDEX_SCALE
        return 0 if supplied == 0 else borrowed * FACTOR_SCALE // supplied

    def accrued(self, t: dict, now: int) -> dict:
        """The totals after accrueInternal at `now`."""
        elapsed = now - t["last"]
        if elapsed == 0:
            return dict(t)
        u = self.utilization(t)
        out = dict(t, last=now)
        out["si"] = t["si"] + t["si"] * (self.kinked(self.supply, u) * elapsed) // FACTOR_SCALE
        out["bi"] = t["bi"] + t["bi"] * (self.kinked(self.borrow, u) * elapsed) // FACTOR_SCALE
        if t["supply_base"] >= self.min_for_rewards:
            out["tsi"] = t["tsi"] + self.supply_speed * elapsed * self.base_scale // t["supply_base"]
        if t["borrow_base"] >= self.min_for_rewards:
            out["tbi"] = t["tbi"] + self.borrow_speed * elapsed * self.base_scale // t["borrow_base"]
        return out

    def tracking_accrued(self, account: str, t: dict) -> int:
        """baseTrackingAccrued after updateBasePrincipal with the accrued totals `t` (a supplier)."""
        principal, tracking_index, accrued, _, _ = self.comet.functions.userBasic(account).call()
        assert principal >= 0
        return accrued + principal * (t["tsi"] - tracking_index) // self.tracking_scale // self.descale


@pytest.fixture(scope="module")
def compound(w3, d, accounts):
    usdc = d.deploy("TestERC20", "USD Coin", "USDC", 6)
    comp = d.deploy("TestERC20", "Compound", "COMP", 18)
    config = (accounts["governor"], accounts["guardian"], usdc.address, *COMET_CONFIG.values())
    comet = d.deploy("Comet", config, "Compound USDC", "cUSDCv3")
    rewards = d.deploy("CometRewards", accounts["governor"])
    d.send(rewards.functions.setRewardConfig(comet.address, comp.address))
    d.send(comp.functions.mint(rewards.address, 1_000_000 * WAD))
    # Other participants: 1M supplied, 600k borrowed by a collateralized borrower (60% utilisation).
    fund(d, usdc, accounts["participant"], 1_000_000 * USDC, comet.address)
    d.send(comet.functions.supply(usdc.address, 1_000_000 * USDC), accounts["participant"])
    d.send(comet.functions.setBorrowCollateralized(accounts["borrower"], True))
    d.send(comet.functions.withdraw(usdc.address, 600_000 * USDC), accounts["borrower"])
    fund(d, usdc, accounts["supplier"], 100_000 * USDC, comet.address)
    return {"usdc": usdc, "comp": comp, "comet": comet, "rewards": rewards, "model": CometModel(comet)}


def owed_of(rewards, comet, account: str) -> tuple[str, int]:
    """CometRewards.getRewardOwed is not a view (it accrues first): read it with eth_call."""
    return tuple(rewards.functions.getRewardOwed(comet.address, account).call())


def comet_supply(w3, d, compound, account: str, amount: int) -> tuple[int, dict]:
    """Supply at a pinned block; returns the principal Comet must record and the accrued totals."""
    comet, model = compound["comet"], compound["model"]
    now = pin_next_block(w3, 10)
    t = model.accrued(model.totals(), now)
    principal_before = comet.functions.userBasic(account).call()[0]
    present = principal_before * t["si"] // BASE_INDEX_SCALE
    expected = (present + amount) * BASE_INDEX_SCALE // t["si"]
    d.send(comet.functions.supply(compound["usdc"].address, amount), account)
    return expected, t


def test_comet_balance_grows_by_the_supply_index(w3, d, compound, accounts):
    comet, model, supplier = compound["comet"], compound["model"], accounts["supplier"]
    amount = 10_000 * USDC
    principal, _ = comet_supply(w3, d, compound, supplier, amount)
    assert comet.functions.userBasic(supplier).call()[0] == principal
    assert principal < amount  # the index has already grown past 1e15 since the participants came

    stored = model.totals()
    u = model.utilization(stored)
    assert comet.functions.getUtilization().call() == u
    rate = comet.functions.getSupplyRate(u).call()
    assert rate == model.kinked(model.supply, u) > 0

    now = mine_after(w3, 30 * DAY)
    index = stored["si"] + stored["si"] * (rate * (now - stored["last"])) // FACTOR_SCALE
    balance = comet.functions.balanceOf(supplier).call()
    assert balance == principal * index // BASE_INDEX_SCALE
    assert balance > amount
    assert comet.functions.totalSupply().call() == stored["supply_base"] * index // BASE_INDEX_SCALE
    borrow_index = model.accrued(stored, now)["bi"]
    assert comet.functions.borrowBalanceOf(accounts["borrower"]).call() == (
        -comet.functions.userBasic(accounts["borrower"]).call()[0] * borrow_index // BASE_INDEX_SCALE
    )

    # A balance hides the index's last digits (1e15 scale): the stored indices must match exactly too.
    later = pin_next_block(w3, 1)
    d.send(comet.functions.accrueAccount(supplier), accounts["other"])
    assert model.totals() == model.accrued(stored, later)
    assert model.totals()["si"] == stored["si"] + stored["si"] * (rate * (later - stored["last"])) // FACTOR_SCALE


def test_comet_rates_follow_the_kinked_model(compound):
    comet, model = compound["comet"], compound["model"]
    f = comet.functions
    for name in ("supply", "borrow"):
        for part in ("SlopeLow", "SlopeHigh", "Base"):
            per_year = COMET_CONFIG[f"{name}PerYearInterestRate{part}"]
            assert getattr(f, f"{name}PerSecondInterestRate{part}")().call() == per_year // SECONDS_PER_YEAR
    kink = COMET_CONFIG["supplyKink"]
    for u in (0, 10**17, 5 * 10**17, kink, kink + 1, 95 * 10**16, 10**18):
        assert f.getSupplyRate(u).call() == model.kinked(model.supply, u)
        assert f.getBorrowRate(u).call() == model.kinked(model.borrow, u)
    # Above the kink the high slope applies on top of the low slope's full contribution.
    low, high = model.supply[1], model.supply[2]
    assert f.getSupplyRate(10**18).call() == low * kink // WAD + high * (10**18 - kink) // WAD
    assert f.baseScale().call() == USDC and f.decimals().call() == 6
    assert f.baseToken().call() == compound["usdc"].address


def test_comet_partial_then_max_withdraw(w3, d, compound, accounts):
    comet, model, usdc, supplier = compound["comet"], compound["model"], compound["usdc"], accounts["supplier"]
    principal, _ = comet_supply(w3, d, compound, supplier, 10_000 * USDC)

    # Partial: the new principal is the remaining present value at the accrued index, rounded down.
    now = pin_next_block(w3, 7 * DAY)
    t = model.accrued(model.totals(), now)
    present = principal * t["si"] // BASE_INDEX_SCALE
    part = 4_000 * USDC
    before = usdc.functions.balanceOf(supplier).call()
    receipt = d.send(comet.functions.withdraw(usdc.address, part), supplier)
    assert usdc.functions.balanceOf(supplier).call() - before == part
    assert event_args(comet, receipt, "Withdraw") == {"src": supplier, "to": supplier, "amount": part}
    principal = comet.functions.userBasic(supplier).call()[0]
    assert principal == (present - part) * BASE_INDEX_SCALE // t["si"]

    # Max: uint256 max withdraws the whole accrued balance, as Comet's balanceOf computes it.
    now = pin_next_block(w3, 3 * DAY)
    t = model.accrued(model.totals(), now)
    everything = principal * t["si"] // BASE_INDEX_SCALE
    before = usdc.functions.balanceOf(supplier).call()
    d.send(comet.functions.withdraw(usdc.address, MAX_UINT), supplier)
    assert usdc.functions.balanceOf(supplier).call() - before == everything
    assert everything > 6_000 * USDC
    assert comet.functions.userBasic(supplier).call()[0] == 0
    assert comet.functions.balanceOf(supplier).call() == 0


def test_comet_pause_guardian_pauses_with_comets_errors(w3, d, compound, accounts):
    comet, usdc = compound["comet"], compound["usdc"]
    supplier, guardian = accounts["supplier"], accounts["guardian"]
    d.send(comet.functions.supply(usdc.address, 1_000 * USDC), supplier)

    pause = comet.functions.pause(False, False, True, False, False)
    assert revert_data(pause, accounts["other"]) == error("Unauthorized()")
    receipt = d.send(pause, guardian)
    assert event_args(comet, receipt, "PauseAction")["withdrawPaused"] is True
    assert comet.functions.isWithdrawPaused().call() and not comet.functions.isSupplyPaused().call()
    assert revert_data(comet.functions.withdraw(usdc.address, 1), supplier) == error("Paused()")
    assert revert_data(comet.functions.withdraw(usdc.address, MAX_UINT), supplier) == error("Paused()")
    d.send(comet.functions.supply(usdc.address, 1_000 * USDC), supplier)  # supply is not paused

    d.send(comet.functions.pause(True, False, False, False, False), accounts["governor"])
    assert revert_data(comet.functions.supply(usdc.address, 1), supplier) == error("Paused()")
    d.send(comet.functions.pause(False, False, False, False, False), guardian)
    d.send(comet.functions.withdraw(usdc.address, 500 * USDC), supplier)


def test_comet_withdrawals_beyond_balance_or_cash_revert_as_comet(w3, d, compound, accounts):
    comet, usdc, comp = compound["comet"], compound["usdc"], compound["comp"]
    supplier, borrower = accounts["supplier"], accounts["borrower"]
    d.send(comet.functions.supply(usdc.address, 10_000 * USDC), supplier)

    # Beyond its own balance a withdrawal is a borrow: refused without collateral.
    assert revert_data(comet.functions.withdraw(usdc.address, 20_000 * USDC), supplier) == error("NotCollateralized()")
    # A new borrow below baseBorrowMin.
    assert revert_data(comet.functions.withdraw(usdc.address, 10_050 * USDC), supplier) == error("BorrowTooSmall()")
    assert revert_data(comet.functions.withdraw(comp.address, 1), supplier) == error("BadAsset()")

    # Borrowers take all the cash: a supplier's withdrawal then fails in the token's transfer.
    cash = usdc.functions.balanceOf(comet.address).call()
    d.send(comet.functions.withdraw(usdc.address, cash), borrower)
    assert usdc.functions.balanceOf(comet.address).call() == 0
    expected = error(
        "ERC20InsufficientBalance(address,uint256,uint256)",
        ["address", "uint256", "uint256"],
        [comet.address, 0, 1_000 * USDC],
    )
    assert revert_data(comet.functions.withdraw(usdc.address, 1_000 * USDC), supplier) == expected
    assert comet.functions.getUtilization().call() > FACTOR_SCALE * 99 // 100


def test_comet_rewards_accrue_and_claim_pays_comp(w3, d, compound, accounts):
    comet, rewards, comp, model = compound["comet"], compound["rewards"], compound["comp"], compound["model"]
    supplier = accounts["supplier"]
    assert rewards.functions.rewardConfig(comet.address).call() == [comp.address, 10**12, True, WAD]
    comet_supply(w3, d, compound, supplier, 50_000 * USDC)
    assert owed_of(rewards, comet, supplier) == (comp.address, 0)

    now = mine_after(w3, 10 * DAY)
    owed = model.tracking_accrued(supplier, model.accrued(model.totals(), now)) * 10**12  # accrual 1e6 -> 18 decimals
    assert owed > 0
    assert owed_of(rewards, comet, supplier) == (comp.address, owed)

    now = pin_next_block(w3, 5 * DAY)
    accrued = model.tracking_accrued(supplier, model.accrued(model.totals(), now))
    receipt = d.send(rewards.functions.claim(comet.address, supplier, True), accounts["other"])
    paid = accrued * 10**12
    assert comp.functions.balanceOf(supplier).call() == paid
    assert event_args(rewards, receipt, "RewardClaimed") == {
        "src": supplier,
        "recipient": supplier,
        "token": comp.address,
        "amount": paid,
    }
    assert comet.functions.baseTrackingAccrued(supplier).call() == accrued
    assert rewards.functions.rewardsClaimed(comet.address, supplier).call() == paid
    assert owed_of(rewards, comet, supplier) == (comp.address, 0)
    unconfigured = error("NotSupported(address)", ["address"], [supplier])
    assert revert_data(rewards.functions.claim(supplier, supplier, True), supplier) == unconfigured


# ---------------------------------------------------------------- Morpho Blue, modelled from its source


VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1
LLTV = 86 * 10**16
IRM_BASE = 10**16 // SECONDS_PER_YEAR  # 1% APR at zero utilisation
IRM_SLOPE = 2 * 10**17 // SECONDS_PER_YEAR  # plus 20% APR at full utilisation


def mul_div_down(x: int, y: int, d_: int) -> int:
    return x * y // d_


def mul_div_up(x: int, y: int, d_: int) -> int:
    return (x * y + d_ - 1) // d_


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div_down(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    return mul_div_down(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div_up(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def w_taylor_compounded(x: int, n: int) -> int:
    first = x * n
    second = mul_div_down(first, first, 2 * WAD)
    third = mul_div_down(second, first, 3 * WAD)
    return first + second + third


def irm_rate(m: dict) -> int:
    if m["supply_assets"] == 0:
        return IRM_BASE
    return IRM_BASE + IRM_SLOPE * (m["borrow_assets"] * WAD // m["supply_assets"]) // WAD


MARKET_KEYS = ("supply_assets", "supply_shares", "borrow_assets", "borrow_shares", "last_update", "fee")


def market_state(morpho, market_id: bytes) -> dict:
    return dict(zip(MARKET_KEYS, morpho.functions.market(market_id).call(), strict=True))


def morpho_accrued(m: dict, now: int) -> tuple[dict, int, int, int]:
    """_accrueInterest at `now`: the new market, the IRM's rate, the interest and the fee shares."""
    out = dict(m, last_update=now)
    elapsed = now - m["last_update"]
    if elapsed == 0:
        return out, 0, 0, 0
    rate = irm_rate(m)
    interest = m["borrow_assets"] * w_taylor_compounded(rate, elapsed) // WAD
    out["borrow_assets"] += interest
    out["supply_assets"] += interest
    fee_shares = 0
    if m["fee"]:
        fee_amount = interest * m["fee"] // WAD
        fee_shares = to_shares_down(fee_amount, out["supply_assets"] - fee_amount, out["supply_shares"])
        out["supply_shares"] += fee_shares
    return out, rate, interest, fee_shares


def market_id_of(params: tuple) -> bytes:
    return keccak(encode(["address", "address", "address", "address", "uint256"], list(params)))


@pytest.fixture(scope="module")
def morpho_blue(w3, d, accounts):
    usdc = d.deploy("TestERC20", "USD Coin", "USDC", 6)
    weth = d.deploy("TestERC20", "Wrapped Ether", "WETH", 18)
    morpho = d.deploy("Morpho", accounts["governor"])
    irm = d.deploy("MorphoLinearIrm", IRM_BASE, IRM_SLOPE)
    # 3,000 USDC per WETH, quoted per base unit and scaled by 1e36.
    oracle = d.deploy("MorphoFixedPriceOracle", accounts["governor"], 3_000 * USDC * 10**36 // WAD)
    d.send(morpho.functions.enableIrm(irm.address))
    d.send(morpho.functions.enableLltv(LLTV))
    params = (usdc.address, weth.address, oracle.address, irm.address, LLTV)
    receipt = d.send(morpho.functions.createMarket(params))
    for account in ("supplier", "participant", "other"):
        fund(d, usdc, accounts[account], 2_000_000 * USDC, morpho.address)
    fund(d, weth, accounts["borrower"], 1_000 * WAD, morpho.address)
    return {"usdc": usdc, "weth": weth, "morpho": morpho, "irm": irm, "params": params, "create": receipt}


def morpho_supply(w3, d, mb, account: str, assets: int, seconds: int = 10) -> tuple[int, dict]:
    """Supply at a pinned block; returns the shares Morpho must mint and the market before."""
    morpho, mid = mb["morpho"], market_id_of(mb["params"])
    m, _, _, _ = morpho_accrued(market_state(morpho, mid), pin_next_block(w3, seconds))
    shares = to_shares_down(assets, m["supply_assets"], m["supply_shares"])
    receipt = d.send(morpho.functions.supply(mb["params"], assets, 0, account, b""), account)
    args = event_args(morpho, receipt, "Supply")
    assert (args["assets"], args["shares"], args["onBehalf"]) == (assets, shares, account)
    return shares, m


def morpho_borrow(d, mb, accounts, assets: int) -> None:
    borrower, morpho = accounts["borrower"], mb["morpho"]
    d.send(morpho.functions.supplyCollateral(mb["params"], 1_000 * WAD, borrower, b""), borrower)
    d.send(morpho.functions.borrow(mb["params"], assets, 0, borrower, borrower), borrower)


def test_morpho_market_id_is_the_hash_of_the_encoded_params(w3, morpho_blue):
    morpho, params = morpho_blue["morpho"], morpho_blue["params"]
    mid = market_id_of(params)
    created = event_args(morpho, morpho_blue["create"], "CreateMarket")
    assert created["id"] == mid
    assert tuple(created["marketParams"].values()) == params
    assert tuple(morpho.functions.idToMarketParams(mid).call()) == params
    created_at = w3.eth.get_block(morpho_blue["create"]["blockNumber"])["timestamp"]
    assert market_state(morpho, mid) == dict.fromkeys(MARKET_KEYS, 0) | {"last_update": created_at}
    # Morpho's storage layout: `market` is the mapping at slot 3; its third word packs lastUpdate and fee.
    slot = int.from_bytes(keccak(mid + (3).to_bytes(32, "big")), "big") + 2
    (word,) = morpho.functions.extSloads([slot.to_bytes(32, "big")]).call()
    assert int.from_bytes(word, "big") == created_at
    assert morpho.functions.DOMAIN_SEPARATOR().call() == keccak(
        encode(
            ["bytes32", "uint256", "address"],
            [keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)"), CHAIN_ID, morpho.address],
        )
    )


def test_morpho_supply_by_assets_mints_shares_rounded_down(w3, d, morpho_blue, accounts):
    morpho, mid = morpho_blue["morpho"], market_id_of(morpho_blue["params"])
    shares, _ = morpho_supply(w3, d, morpho_blue, accounts["supplier"], 1_000_000 * USDC)
    assert shares == 1_000_000 * USDC * VIRTUAL_SHARES  # an empty market: 1 asset = 1e6 shares
    morpho_borrow(d, morpho_blue, accounts, 400_000 * USDC)

    # After interest the share price is above 1e-6 and a deposit's shares are rounded down.
    more, m = morpho_supply(w3, d, morpho_blue, accounts["participant"], 123_456_789, seconds=3 * DAY)
    assert more < 123_456_789 * VIRTUAL_SHARES
    assert more * (m["supply_assets"] + 1) <= 123_456_789 * (m["supply_shares"] + VIRTUAL_SHARES)
    assert morpho.functions.position(mid, accounts["participant"]).call() == [more, 0, 0]
    after = market_state(morpho, mid)
    assert after["supply_shares"] == m["supply_shares"] + more
    assert after["supply_assets"] == m["supply_assets"] + 123_456_789

    # Supply by shares: assets rounded up.
    m, _, _, _ = morpho_accrued(after, pin_next_block(w3, 10))
    want = 10**12 + 7
    assets = mul_div_up(want, m["supply_assets"] + VIRTUAL_ASSETS, m["supply_shares"] + VIRTUAL_SHARES)
    receipt = d.send(morpho.functions.supply(morpho_blue["params"], 0, want, accounts["other"], b""), accounts["other"])
    assert (event_args(morpho, receipt, "Supply")["assets"], event_args(morpho, receipt, "Supply")["shares"]) == (
        assets,
        want,
    )


def test_morpho_interest_accrues_through_the_irm_with_taylor_compounding(w3, d, morpho_blue, accounts):
    morpho, irm, params = morpho_blue["morpho"], morpho_blue["irm"], morpho_blue["params"]
    mid = market_id_of(params)
    morpho_supply(w3, d, morpho_blue, accounts["supplier"], 1_000_000 * USDC)
    morpho_borrow(d, morpho_blue, accounts, 650_000 * USDC)

    m = market_state(morpho, mid)
    assert irm.functions.borrowRateView(params, tuple(m.values())).call() == irm_rate(m)
    now = pin_next_block(w3, 30 * DAY)
    expected, rate, interest, _ = morpho_accrued(m, now)
    receipt = d.send(morpho.functions.accrueInterest(params), accounts["other"])
    assert market_state(morpho, mid) == expected
    assert interest > 0 and expected["borrow_assets"] == 650_000 * USDC + interest
    assert event_args(morpho, receipt, "AccrueInterest") == {
        "id": mid,
        "prevBorrowRate": rate,
        "interest": interest,
        "feeShares": 0,
    }
    # Taylor compounding: more than simple interest, less than continuous compounding.
    assert 650_000 * USDC * rate * 30 * DAY // WAD < interest

    # With a fee, the fee recipient is minted shares worth the fee's part of the interest.
    d.send(morpho.functions.setFeeRecipient(accounts["governor"]))
    d.send(morpho.functions.setFee(params, 10**17))
    now = pin_next_block(w3, 45 * DAY)
    expected, rate, interest, fee_shares = morpho_accrued(market_state(morpho, mid), now)
    receipt = d.send(morpho.functions.accrueInterest(params), accounts["other"])
    assert market_state(morpho, mid) == expected
    assert fee_shares > 0 and event_args(morpho, receipt, "AccrueInterest")["feeShares"] == fee_shares
    assert morpho.functions.position(mid, accounts["governor"]).call()[0] == fee_shares


def test_morpho_withdraw_by_shares_and_by_assets_rounds_as_morpho(w3, d, morpho_blue, accounts):
    morpho, usdc, params = morpho_blue["morpho"], morpho_blue["usdc"], morpho_blue["params"]
    mid, supplier = market_id_of(params), accounts["supplier"]
    shares, _ = morpho_supply(w3, d, morpho_blue, supplier, 1_000_000 * USDC)
    morpho_borrow(d, morpho_blue, accounts, 500_000 * USDC)

    # By shares: assets rounded down.
    burn = shares // 3 + 12_345
    m, _, _, _ = morpho_accrued(market_state(morpho, mid), pin_next_block(w3, 20 * DAY))
    assets = to_assets_down(burn, m["supply_assets"], m["supply_shares"])
    before = usdc.functions.balanceOf(supplier).call()
    receipt = d.send(morpho.functions.withdraw(params, 0, burn, supplier, supplier), supplier)
    assert usdc.functions.balanceOf(supplier).call() - before == assets
    args = event_args(morpho, receipt, "Withdraw")
    assert (args["assets"], args["shares"], args["caller"], args["receiver"]) == (assets, burn, supplier, supplier)
    assert morpho.functions.position(mid, supplier).call()[0] == shares - burn
    assert market_state(morpho, mid)["supply_assets"] == m["supply_assets"] - assets

    # By assets: shares rounded up.
    take = 77_777_777_777
    m, _, _, _ = morpho_accrued(market_state(morpho, mid), pin_next_block(w3, 5 * DAY))
    burned = to_shares_up(take, m["supply_assets"], m["supply_shares"])
    assert burned > to_shares_down(take, m["supply_assets"], m["supply_shares"])  # the rounding matters here
    before = usdc.functions.balanceOf(supplier).call()
    receipt = d.send(morpho.functions.withdraw(params, take, 0, supplier, supplier), supplier)
    assert usdc.functions.balanceOf(supplier).call() - before == take
    assert event_args(morpho, receipt, "Withdraw")["shares"] == burned
    assert morpho.functions.position(mid, supplier).call()[0] == shares - burn - burned


def test_morpho_reverts_with_its_strings(w3, d, morpho_blue, accounts):
    morpho, params, usdc = morpho_blue["morpho"], morpho_blue["params"], morpho_blue["usdc"]
    supplier, other = accounts["supplier"], accounts["other"]
    shares, _ = morpho_supply(w3, d, morpho_blue, supplier, 1_000_000 * USDC)
    morpho_borrow(d, morpho_blue, accounts, 600_000 * USDC)
    f = morpho.functions

    for assets, shares_in in ((0, 0), (1, 1)):
        with pytest.raises(ContractLogicError, match="inconsistent input"):
            f.withdraw(params, assets, shares_in, supplier, supplier).call({"from": supplier})
        with pytest.raises(ContractLogicError, match="inconsistent input"):
            f.supply(params, assets, shares_in, supplier, b"").call({"from": supplier})
    with pytest.raises(ContractLogicError, match="insufficient liquidity"):
        f.withdraw(params, 0, shares, supplier, supplier).call({"from": supplier})
    with pytest.raises(ContractLogicError, match="insufficient liquidity"):
        f.withdraw(params, 400_001 * USDC, 0, supplier, supplier).call({"from": supplier})
    with pytest.raises(ContractLogicError, match="unauthorized"):
        f.withdraw(params, 1 * USDC, 0, supplier, other).call({"from": other})
    with pytest.raises(ContractLogicError, match="insufficient collateral"):
        f.borrow(params, 2_000_000 * USDC, 0, accounts["borrower"], accounts["borrower"]).call(
            {"from": accounts["borrower"]}
        )
    unknown = (usdc.address, usdc.address, params[2], params[3], LLTV)
    with pytest.raises(ContractLogicError, match="market not created"):
        f.supply(unknown, 1, 0, supplier, b"").call({"from": supplier})

    # Authorized, another account may withdraw on the supplier's behalf (to itself).
    d.send(f.setAuthorization(other, True), supplier)
    assert f.isAuthorized(supplier, other).call()
    with pytest.raises(ContractLogicError, match="already set"):
        f.setAuthorization(other, True).call({"from": supplier})
    before = usdc.functions.balanceOf(other).call()
    d.send(f.withdraw(params, 1_000 * USDC, 0, supplier, other), other)
    assert usdc.functions.balanceOf(other).call() - before == 1_000 * USDC
