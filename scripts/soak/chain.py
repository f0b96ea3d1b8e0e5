"""What the soak reads from and does to the chains directly (never through the fault proxy):
the treasury's holdings per asset, the clock, the price feeds, a participant leaving a vault,
and the signer's transactions as mined."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from web3 import Web3
from web3.types import RPCEndpoint

from floor.adapters.registry import AdapterRegistry
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.config import Settings
from floor.devnet.context import Deployer, refresh_feeds
from floor.models import AdapterKey

HOUR_S = 3600
USD_DECIMALS = 8


def rpc(w3: Web3, method: str, *params: object) -> object:
    answer = w3.provider.make_request(RPCEndpoint(method), list(params))
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


@dataclass
class Holdings:
    """Per (chain, asset): the executor's idle balance plus its positions, in base units."""

    amounts: dict[tuple[int, str], int]
    markets: dict[str, int]  # str(AdapterKey) -> amount
    prices: dict[tuple[int, str], int]  # USD, 8 decimals

    def usd(self, decimals: Mapping[str, int]) -> float:
        return sum(
            amount * self.prices[key] / 10 ** decimals[key[1]] / 10**USD_DECIMALS
            for key, amount in self.amounts.items()
        )


class Chains:
    def __init__(self, settings: Settings, web3s: Mapping[int, Web3], keys: list[AdapterKey], signer: str):
        self.settings, self.web3s, self.signer = settings, web3s, signer
        registry = AdapterRegistry.from_settings(settings)
        self.adapters = {cid: [registry.get(k) for k in keys if k.chain_id == cid] for cid in web3s}
        self.assets = {cid: sorted({a.asset.symbol for a in self.adapters[cid]}) for cid in web3s}
        self.readers = {cid: MulticallReader(w3, settings.chain(cid).multicall3) for cid, w3 in web3s.items()}
        self.decimals = {t.symbol: t.decimals for c in settings.chains for t in c.tokens}
        self.mined: dict[int, dict[int, list[str]]] = {cid: {} for cid in web3s}  # block -> signer's tx hashes
        self.scanned = dict.fromkeys(web3s, 0)

    def holdings(self) -> Holdings:
        amounts: dict[tuple[int, str], int] = {}
        markets: dict[str, int] = {}
        prices: dict[tuple[int, str], int] = {}
        for cid, w3 in self.web3s.items():
            chain = self.settings.chain(cid)
            for position in read_positions(self.readers[cid], self.adapters[cid], chain.executor):
                markets[str(position.key)] = position.amount
                amounts[(cid, position.asset)] = amounts.get((cid, position.asset), 0) + position.amount
            for asset in self.assets[cid]:
                token = Deployer(w3).at("TestERC20", chain.token(asset).address)
                amounts[(cid, asset)] = amounts.get((cid, asset), 0) + token.functions.balanceOf(chain.executor).call()
                prices[(cid, asset)] = self.feed(cid, asset).functions.latestAnswer().call()
        return Holdings(amounts, markets, prices)

    def feed(self, chain_id: int, asset: str):
        return Deployer(self.web3s[chain_id]).at(
            "ChainlinkAggregator", self.settings.chain(chain_id).price_feed(asset).feed
        )

    def warp(self, seconds: int = HOUR_S) -> None:
        """An hour passes on every chain; the feeds get a new round, as Chainlink's nodes give."""
        for w3 in self.web3s.values():
            rpc(w3, "evm_increaseTime", seconds)
            rpc(w3, "evm_mine")
            refresh_feeds(w3)

    def move_price(self, asset: str, bps: int) -> None:
        for cid, w3 in self.web3s.items():
            feed = self.feed(cid, asset)
            answer = feed.functions.latestAnswer().call()
            Deployer(w3).send(feed.functions.updateAnswer(answer * (10_000 + bps) // 10_000))

    def make_stale(self, chain_id: int, asset: str) -> int:
        """The feed's latest round backdated past twice its heartbeat (a feed whose nodes stopped)."""
        w3 = self.web3s[chain_id]
        feed = self.feed(chain_id, asset)
        heartbeat = self.settings.chain(chain_id).price_feed(asset).heartbeat_s
        now = w3.eth.get_block("latest")["timestamp"]
        Deployer(w3).send(feed.functions.setAnswer(feed.functions.latestAnswer().call(), now - 2 * heartbeat))
        return heartbeat

    def vault(self, key: AdapterKey):
        market = next(m for m in self.settings.chain(key.chain_id).markets if m.market == key.market)
        return Deployer(self.web3s[key.chain_id]).at("ERC4626Vault", market.vault)

    def participant_leaves(self, key: AdapterKey, fraction_bps: int) -> int:
        """The vault's other participant redeems a part of its shares: the market's TVL falls,
        the treasury's shares keep their value. The assets it took."""
        d = Deployer(self.web3s[key.chain_id])
        vault = self.vault(key)
        # A margin under maxRedeem: the engine's own transactions (its worker runs beside this)
        # can lower the vault's liquidity between this read and the redeem's block.
        shares = min(
            vault.functions.balanceOf(d.participant).call() * fraction_bps // 10_000,
            vault.functions.maxRedeem(d.participant).call() * 99 // 100,
        )
        assets: int = vault.functions.previewRedeem(shares).call()
        d.send(vault.functions.redeem(shares, d.participant, d.participant), d.participant)
        return assets

    def participant_returns(self, key: AdapterKey, assets: int) -> None:
        d = Deployer(self.web3s[key.chain_id])
        vault = self.vault(key)
        token = d.at("TestERC20", vault.functions.asset().call())
        d.send(token.functions.approve(vault.address, assets), d.participant)
        d.send(vault.functions.deposit(assets, d.participant), d.participant)

    def signer_transactions(self) -> dict[int, list[str]]:
        """Every transaction the signer has on each chain now, by hash. Blocks near the head are
        read again each time (a reorg may have replaced them)."""
        for cid, w3 in self.web3s.items():
            head = w3.eth.block_number
            start = max(1, self.scanned[cid] - 16)
            for number in list(self.mined[cid]):
                if number >= start:
                    del self.mined[cid][number]
            for number in range(start, head + 1):
                block = w3.eth.get_block(number, full_transactions=True)
                hashes = [
                    "0x" + bytes(tx["hash"]).hex()
                    for tx in block["transactions"]
                    if isinstance(tx, Mapping) and tx["from"] == self.signer
                ]
                if hashes:
                    self.mined[cid][number] = hashes
            self.scanned[cid] = head
        return {cid: [h for hashes in blocks.values() for h in hashes] for cid, blocks in self.mined.items()}

    def last_signer_block(self, chain_id: int) -> int | None:
        self.signer_transactions()
        return max(self.mined[chain_id], default=None)

    def reorg(self, chain_id: int, depth: int) -> None:
        rpc(self.web3s[chain_id], "anvil_reorg", depth, [])
