"""The position report's APY: quoted where the protocol publishes a rate, measured from its
growth index only over a window long enough to annualise."""

from __future__ import annotations

from eth_abi import encode

from floor.adapters.base import Asset, RateSnapshot
from floor.calls import ReadFailed, ReadResult
from floor.chain.multicall import ReadBatch
from floor.chain.report import MIN_APY_WINDOW_S, _apy, _earlier_snapshots, block_at_or_before
from floor.models import AdapterKey
from floor.protocols.erc4626.adapter import Erc4626Adapter

RAY = 10**27
USDC = "0x1111111111111111111111111111111111111111"
OLD_VAULT = "0x2222222222222222222222222222222222222222"
NEW_VAULT = "0x3333333333333333333333333333333333333333"


def test_a_measured_apy_needs_a_window_long_enough_to_annualise():
    start = RateSnapshot(timestamp=1_000, growth_index=RAY)
    # A pool's fees from one swap, minutes after it opened: +0.01% in 10 minutes is not 5%+ a year.
    minutes = RateSnapshot(timestamp=1_600, growth_index=RAY + RAY // 10_000)
    assert _apy(minutes, start) == (None, None, None)
    later = RateSnapshot(timestamp=1_000 + MIN_APY_WINDOW_S, growth_index=RAY + RAY // 2_000)
    apy, source, window = _apy(later, start)
    assert source == "realised" and window == MIN_APY_WINDOW_S and 0.9 < apy < 1.1  # 0.05% in 6 h
    quoted = RateSnapshot(timestamp=1_600, growth_index=RAY, quoted_apr=0.04)
    assert _apy(quoted, None)[1] == "quoted"


class _Chain:
    """Blocks every `block_s` from t0, and vaults created at given blocks: before that a call to
    the vault returns nothing (no code there), and at block 0 there is no Multicall3 yet."""

    def __init__(self, created: dict[str, int], block_s: int, t0: int = 1_000_000):
        self.created, self.block_s, self.t0 = created, block_s, t0
        self.w3 = self  # the reader's w3.eth.get_block
        self.eth = self

    def get_block(self, number: int) -> dict:
        return {"timestamp": self.t0 + number * self.block_s}

    def index(self, block: int) -> int:
        return 10**18 + block * 10**13  # the share price grows a little every block

    def read(self, calls, block: int) -> ReadBatch:
        if block == 0:
            raise ReadFailed("Multicall3: no code at block 0")
        results = []
        for c in calls:
            there = block >= self.created[c.target]
            results.append(ReadResult(True, encode(["uint256"], [self.index(block)]) if there else b""))
        return ReadBatch(results=results, block_number=block, timestamp=self.get_block(block)["timestamp"], eth_calls=1)


def _vault(name: str, address: str) -> Erc4626Adapter:
    return Erc4626Adapter(
        key=AdapterKey(chain_id=1, protocol="metamorpho", market=name), asset=Asset("USDC", USDC, 6), vault=address
    )


def test_a_market_created_after_the_look_back_block_is_measured_from_its_first_block_or_shows_none():
    """The day's look-back lands before a market existed: its APY is measured from the earliest
    block it can be read at (when that is long enough ago to annualise), else none; never an
    error, and the markets that were there are measured from the look-back block."""
    old, new = _vault("old", OLD_VAULT), _vault("new", NEW_VAULT)
    # Blocks of 20 minutes: the look-back lands on block 28, the new vault was created at 50.
    # Blocks of 12 s: it lands before the chain (block 0, no Multicall3), the vault came at 95.
    for block_s, created, old_from, measured in ((1_200, 50, 28, True), (12, 95, 95, False)):
        chain = _Chain({OLD_VAULT: 1, NEW_VAULT: created}, block_s)
        now = chain.read([], 100)
        earlier = _earlier_snapshots(chain, [old, new], now, 86_400)
        assert block_at_or_before(chain, now.timestamp - 86_400, 100) == (28 if measured else 0)
        assert earlier[old.key].timestamp == chain.get_block(old_from)["timestamp"]
        assert earlier[new.key].timestamp == chain.get_block(created)["timestamp"]  # its first block
        rate = new.decode_rate([ReadResult(True, encode(["uint256"], [chain.index(100)]))], now.timestamp)
        apy, source, window = _apy(rate, earlier[new.key])
        if measured:  # from its first block, 50 blocks of 20 minutes ago: more than 6 h
            assert source == "realised" and window == 50 * block_s and apy > 0
        else:  # 5 blocks of 12 s: too short to annualise, shown as "-"
            assert (apy, source, window) == (None, None, None)
