"""What every local deployment shares: the `Deployer` (anvil's unlocked accounts), the
`DeployContext` a protocol's deploy hook (and the swap venue's) gets, the local tokens and
their prices, and the Chainlink price feed stand-ins with the registry of those this process
deployed (so `refresh_feeds` can give them a new round).

A leaf: it imports neither `floor.devnet.deploy` nor any deploy hook, so they can all import it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import BadFunctionCallOutput, ContractLogicError
from web3.types import TxParams, TxReceipt, Wei

from floor.devnet.artifacts import load_artifact

TOKENS = {"USDC": ("USD Coin", 6), "WETH": ("Wrapped Ether", 18), "DAI": ("Dai Stablecoin", 18)}

# The feeds answer USD with 8 decimals, as Chainlink's USD feeds do.
USD_DECIMALS = 8
USD_UNIT = 10**USD_DECIMALS
# What each token's feed answers per whole token, in USD_UNIT units.
PRICES = {"USDC": 1 * USD_UNIT, "WETH": 3_000 * USD_UNIT, "DAI": 1 * USD_UNIT}
# The reward tokens' prices, as the swap venue's pools are seeded (floor/swaps/deploy.py).
REWARD_PRICES = {"CRV": USD_UNIT // 2, "CVX": 5 * USD_UNIT // 2, "COMP": 50 * USD_UNIT, "crvUSD": USD_UNIT}
FEEDS = {"USDC": "USDC / USD", "WETH": "ETH / USD", "DAI": "DAI / USD"}
FEED_SYMBOLS = {description: symbol for symbol, description in FEEDS.items()}
DAY_S = 86_400  # a feed's heartbeat where the chain lists none: daily
# The feeds' answer bounds (OCR's minAnswer, maxAnswer): at least 1, at most int192's maximum.
MIN_ANSWER, MAX_ANSWER = 1, 2**191 - 1

# What other participants hold in each market, in whole tokens: supplied, then borrowed.
PARTICIPANT_SUPPLY = {"USDC": 2_000_000, "WETH": 1_000, "DAI": 2_000_000}
PARTICIPANT_BORROW_FRACTION = (2, 5)  # 40% of what they supplied


# anvil's default accounts come from this well-known mnemonic: their keys are public, fit only
# for local chains.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


@functools.cache
def anvil_account_key(index: int) -> str:
    """The private key of anvil's default account `index` (e.g. the guardian's, for the watchdog)."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account.key.hex()


class Deployer:
    """Sends from anvil's unlocked accounts (anvil signs); the engine's own signer is separate."""

    def __init__(self, w3: Web3):
        self.w3 = w3
        accounts = list(w3.eth.accounts)  # web3 types the accounts as a 1-tuple
        self.admin, self.participant = accounts[0], accounts[2]
        self.guardian, self.treasury = accounts[3], accounts[4]

    def deploy(self, name: str, *args: Any, value: int = 0) -> Contract:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self._wait(factory.constructor(*args).transact({"from": self.admin, "value": Wei(value)}))
        address = receipt["contractAddress"]
        if address is None:
            raise RuntimeError(f"deploying {name} made no contract")
        return self.w3.eth.contract(address=address, abi=artifact.abi)

    def at(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)

    def send(self, fn: ContractFunction, sender: str | None = None, value: int = 0) -> TxReceipt:
        return self._wait(fn.transact({"from": Web3.to_checksum_address(sender or self.admin), "value": Wei(value)}))

    def send_data(self, target: str, data: str, sender: str | None = None) -> TxReceipt:
        tx: TxParams = {
            "from": Web3.to_checksum_address(sender or self.admin),
            "to": Web3.to_checksum_address(target),
            "data": HexStr(data),
        }
        return self._wait(self.w3.eth.send_transaction(tx))

    def _wait(self, tx_hash: HexBytes) -> TxReceipt:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        if receipt["status"] != 1:
            raise RuntimeError(f"deployment transaction {tx_hash.hex()} reverted")
        return receipt


@dataclass
class DeployContext:
    """What a protocol's deploy hook gets: the chain, a deployer, the tokens deployed, and
    how much the other participants put in (their supply, and the part they borrow)."""

    chain_id: int
    deployer: Deployer
    tokens: dict[str, Contract]  # symbol -> the TestERC20

    def decimals(self, symbol: str) -> int:
        return TOKENS[symbol][1]

    def participant_supply(self, symbol: str) -> int:
        """What the other participants supply to each market of `symbol`, in base units."""
        supply: int = PARTICIPANT_SUPPLY[symbol] * 10 ** self.decimals(symbol)
        return supply

    def borrowed(self, supplied: int) -> int:
        """How much of what they supplied the participants borrow back."""
        return supplied * PARTICIPANT_BORROW_FRACTION[0] // PARTICIPANT_BORROW_FRACTION[1]


# The feeds this process deployed, per chain (RPC address and genesis), as (symbol, address):
# what `refresh_feeds` refreshes. A test's snapshot revert can undo one: such are skipped.
_FEEDS: dict[str, list[tuple[str, str]]] = {}


def deploy_feed(
    d: Deployer, description: str, answer: int, *, min_answer: int = MIN_ANSWER, max_answer: int = MAX_ANSWER
) -> Contract:
    """A Chainlink feed stand-in (USD, 8 decimals) owned by the deployer, with `answer` as its
    first round, updated now."""
    feed = d.deploy("ChainlinkAggregator", d.admin, USD_DECIMALS, description, min_answer, max_answer)
    d.send(feed.functions.updateAnswer(answer))
    symbol = FEED_SYMBOLS.get(description, description.split(" / ")[0])
    _FEEDS.setdefault(_chain_key(d.w3), []).append((symbol, feed.address))
    return feed


def _chain_key(w3: Web3) -> str:
    """The chain's RPC address and genesis block: a port reused by a later anvil is another chain."""
    urls = getattr(w3.provider, "urls", None)  # floor.chain.rpc's provider
    url = str(urls[0] if urls else getattr(w3.provider, "endpoint_uri", id(w3.provider)))
    return f"{url}@{bytes(w3.eth.get_block(0)['hash']).hex()}"


def refresh_feeds(w3: Web3) -> None:
    """A new round of every feed this process deployed on the chain, at its latest answer: what
    Chainlink's nodes do at least once a heartbeat on a real chain, for a local chain whose
    clock was moved forward (the executor and the risk check refuse stale prices)."""
    d = Deployer(w3)
    for _, address in _FEEDS.get(_chain_key(w3), []):
        answer = _answer(d, address)
        if answer is not None:
            d.send(d.at("ChainlinkAggregator", address).functions.updateAnswer(answer))


def _answer(d: Deployer, address: str) -> int | None:
    """The feed's latest answer, or None where a revert undid it (another contract may sit there)."""
    try:
        answer: int = d.at("ChainlinkAggregator", address).functions.latestAnswer().call()
    except (ContractLogicError, BadFunctionCallOutput):
        return None
    return answer


def live_feeds(w3: Web3) -> dict[str, str]:
    """symbol -> the latest feed this process deployed on the chain that still answers."""
    d = Deployer(w3)
    return {s: a for s, a in _FEEDS.get(_chain_key(w3), []) if _answer(d, a) is not None}
