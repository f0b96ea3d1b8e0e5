"""Deploy the local stand-ins and the executor on an anvil chain, and describe them as config.

Each chain gets: ERC-20 tokens with real decimals (WETH with WETH9's deposit and withdraw, so
staking adapters can unwrap it), Multicall3 at its canonical address, one
Chainlink price feed stand-in (`ChainlinkAggregator`, USD with 8 decimals) per token with its
price and the heartbeat of the real feed on that chain, every protocol package's
markets (`floor.protocols`: each package's deploy hook deploys its stand-ins, e.g. Aave V3
pools, Spark, ERC-4626 vaults, Lido and Rocket Pool, and returns them as config), and the FloorExecutor configured
with exactly the rules its adapters declare (scoped arguments included). Other market
participants supply and borrow, so the markets have utilisation, interest and finite
liquidity, as real ones do.
Roles: anvil's account 0 is the owner (the multisig's stand-in), account 3 the guardian,
account 4 the treasury's own address (the one transfer destination); the engine's signer is
the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from floor.calls import encode_call
from floor.chain.multicall import MULTICALL3_ADDRESS
from floor.devnet.artifacts import load_artifact
from floor.permissions import ExecutorSetup, Feed, LossBound, PermissionSet, owner_calls
from floor.protocols import protocols

TOKENS = {"USDC": ("USD Coin", 6), "WETH": ("Wrapped Ether", 18), "DAI": ("Dai Stablecoin", 18)}
# WETH is WETH9-like (deposit/withdraw), so staking adapters can unwrap it; what the deployer
# mints unwraps against ETH placed on the contract (a billion ETH, more than any test mints).
TOKEN_CONTRACTS = {"WETH": "TestWETH"}
WETH_BACKING_WEI = 10**9 * 10**18

# The feeds answer USD with 8 decimals, as Chainlink's USD feeds do.
USD_DECIMALS = 8
USD_UNIT = 10**USD_DECIMALS
# What each token's feed answers per whole token, in USD_UNIT units.
PRICES = {"USDC": 1 * USD_UNIT, "WETH": 3_000 * USD_UNIT, "DAI": 1 * USD_UNIT}
# Each feed's description and heartbeat (s) per chain, as Chainlink's on that network: on
# Ethereum ETH/USD and DAI/USD update at least hourly, USDC/USD daily; on Arbitrum all daily.
FEEDS = {"USDC": "USDC / USD", "WETH": "ETH / USD", "DAI": "DAI / USD"}
HEARTBEATS = {
    1: {"USDC": 86_400, "WETH": 3_600, "DAI": 3_600},
    42161: {"USDC": 86_400, "WETH": 86_400, "DAI": 86_400},
}
DAY_S = 86_400  # a token not listed above: a daily heartbeat
# The feeds' answer bounds (OCR's minAnswer, maxAnswer): at least 1, at most int192's maximum.
MIN_ANSWER, MAX_ANSWER = 1, 2**191 - 1

# The local chains; which markets each has is each protocol package's choice (its deploy hook).
CHAIN_NAMES = {1: "ethereum", 42161: "arbitrum"}

# What other participants hold in each market, in whole tokens: supplied, then borrowed.
PARTICIPANT_SUPPLY = {"USDC": 2_000_000, "WETH": 1_000, "DAI": 2_000_000}
PARTICIPANT_BORROW_FRACTION = (2, 5)  # 40% of what they supplied


@dataclass
class DeployedChain:
    chain_id: int
    name: str
    executor: str
    tokens: dict[str, tuple[str, int]]  # symbol -> (address, decimals)
    price_feeds: dict[str, dict] = field(default_factory=dict)  # symbol -> {feed, heartbeat_s}
    markets: list[dict] = field(default_factory=list)  # config-shaped market entries
    participant: str = ""
    owner: str = ""
    guardian: str = ""
    treasury: str = ""  # the one listed transfer destination
    swaps: dict | None = None  # the swap venue's config (floor/swaps/deploy.py), where markets pay rewards

    def chain_config(self, rpc_url: str, confirmations: int = 1) -> dict:
        return {
            "id": self.chain_id,
            "name": self.name,
            "rpc_urls": [rpc_url],
            "confirmations": confirmations,
            "executor": self.executor,
            "destinations": [self.treasury],
            "multicall3": MULTICALL3_ADDRESS,
            "price_feeds": {s: dict(f) for s, f in self.price_feeds.items()},
            "tokens": [{"symbol": s, "address": a, "decimals": d} for s, (a, d) in self.tokens.items()],
            "markets": [dict(m) for m in self.markets],  # a copy: callers may extend theirs
        } | ({"swaps": dict(self.swaps)} if self.swaps else {})


class Deployer:
    """Sends from anvil's unlocked accounts (anvil signs); the engine's own signer is separate."""

    def __init__(self, w3: Web3):
        self.w3 = w3
        accounts = w3.eth.accounts
        self.admin, self.participant = accounts[0], accounts[2]
        self.guardian, self.treasury = accounts[3], accounts[4]

    def deploy(self, name: str, *args, value: int = 0) -> Contract:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self._wait(factory.constructor(*args).transact({"from": self.admin, "value": value}))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)

    def at(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=address, abi=load_artifact(name).abi)

    def send(self, fn, sender: str | None = None, value: int = 0):
        return self._wait(fn.transact({"from": sender or self.admin, "value": value}))

    def send_data(self, target: str, data: str, sender: str | None = None):
        return self._wait(self.w3.eth.send_transaction({"from": sender or self.admin, "to": target, "data": data}))

    def _wait(self, tx_hash):
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        if receipt["status"] != 1:
            raise RuntimeError(f"deployment transaction {tx_hash.hex()} reverted")
        return receipt


def install_multicall3(w3: Web3) -> None:
    """Multicall3 lives at the same address on every chain; put its code there."""
    w3.provider.make_request("anvil_setCode", [MULTICALL3_ADDRESS, load_artifact("Multicall3").deployed_bytecode])


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
        return PARTICIPANT_SUPPLY[symbol] * 10 ** self.decimals(symbol)

    def borrowed(self, supplied: int) -> int:
        """How much of what they supplied the participants borrow back."""
        return supplied * PARTICIPANT_BORROW_FRACTION[0] // PARTICIPANT_BORROW_FRACTION[1]


def deploy_chain(w3: Web3, chain_id: int, operator: str) -> DeployedChain:
    d = Deployer(w3)
    install_multicall3(w3)

    tokens = {
        symbol: d.deploy(TOKEN_CONTRACTS.get(symbol, "TestERC20"), name, symbol, decimals)
        for symbol, (name, decimals) in TOKENS.items()
    }
    w3.provider.make_request("anvil_setBalance", [tokens["WETH"].address, hex(WETH_BACKING_WEI)])
    feeds = {symbol: deploy_feed(d, FEEDS.get(symbol, f"{symbol} / USD"), PRICES[symbol]) for symbol in tokens}
    chain = DeployedChain(
        chain_id=chain_id,
        name=CHAIN_NAMES[chain_id],
        executor="",
        tokens={s: (t.address, TOKENS[s][1]) for s, t in tokens.items()},
        price_feeds={
            s: {"feed": f.address, "heartbeat_s": HEARTBEATS[chain_id].get(s, DAY_S)} for s, f in feeds.items()
        },
        participant=d.participant,
        owner=d.admin,
        guardian=d.guardian,
        treasury=d.treasury,
    )

    context = DeployContext(chain_id=chain_id, deployer=d, tokens=tokens)
    for spec in protocols().values():
        if spec.deploy is not None:
            chain.markets += spec.deploy_hook()(context)
    from floor.swaps.deploy import deploy_venue  # the reward tokens' swap venue, over the markets' tokens

    chain.swaps = deploy_venue(context, chain.markets)

    executor = d.deploy("FloorExecutor", d.admin, operator, d.guardian)
    chain.executor = executor.address
    configure_executor(w3, chain.executor, chain_permissions(chain))
    return chain


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


# The feeds this process deployed, per chain (RPC address and genesis), as (symbol, address):
# what `refresh_feeds` refreshes. A test's snapshot revert can undo one: such are skipped.
_FEEDS: dict[str, list[tuple[str, str]]] = {}
FEED_SYMBOLS = {description: symbol for symbol, description in FEEDS.items()}
# The reward tokens' prices, as the swap venue's pools are seeded (floor/swaps/deploy.py).
REWARD_PRICES = {"CRV": USD_UNIT // 2, "CVX": 5 * USD_UNIT // 2, "COMP": 50 * USD_UNIT, "crvUSD": USD_UNIT}


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
        return d.at("ChainlinkAggregator", address).functions.latestAnswer().call()
    except (ContractLogicError, BadFunctionCallOutput):
        return None


def _live_feeds(w3: Web3) -> dict[str, str]:
    """symbol -> the latest feed this process deployed on the chain that still answers."""
    d = Deployer(w3)
    return {s: a for s, a in _FEEDS.get(_chain_key(w3), []) if _answer(d, a) is not None}


def chain_permissions(chain: DeployedChain) -> ExecutorSetup:
    """What the adapters of the chain's markets declare they need, transfers to the treasury,
    the feeds that value it all and the loss bound."""
    from floor.adapters.registry import executor_setup
    from floor.config import ChainConfig

    return executor_setup(ChainConfig.model_validate(chain.chain_config("http://127.0.0.1:1")))


def local_setup(w3: Web3, permissions: PermissionSet) -> ExecutorSetup:
    """An executor setup for rules on a local chain with no config: the feeds this process
    deployed on it, and a feed (at the local prices) for any token that has none yet; a token
    priced by its address is named by its own symbol() and decimals()."""
    d = Deployer(w3)
    tokens: dict[str, tuple[str, int]] = {}
    for a in permissions.assets:
        symbol = a.priced_as
        if symbol.startswith("0x") and len(symbol) == 42:
            token = d.at("TestERC20", symbol)
            tokens[symbol] = (token.functions.symbol().call(), token.functions.decimals().call())
            symbol = tokens[symbol][0]
        if symbol not in _live_feeds(w3):
            price = {**PRICES, **REWARD_PRICES}.get(symbol)
            if price is None:
                raise ValueError(f"no local price for {symbol!r}: cannot value it on this chain")
            deploy_feed(d, FEEDS.get(symbol, f"{symbol} / USD"), price)
    feeds = {s: Feed(address, DAY_S) for s, address in _live_feeds(w3).items()}
    return ExecutorSetup(permissions, feeds, LossBound(), tokens)


def configure_executor(w3: Web3, executor: str, setup: ExecutorSetup | PermissionSet) -> None:
    """Send the owner's rule, list, asset and bound settings (the devnet's owner is anvil's
    account 0) and make the guardian (anvil's account 3) the deposit attester too. Bare rules
    are valued by the chain's local feeds (`local_setup`)."""
    if isinstance(setup, PermissionSet):
        setup = local_setup(w3, setup)
    d = Deployer(w3)
    for c in owner_calls(executor, setup):
        d.send_data(c.target, c.data)
    d.send_data(executor, "0x" + encode_call("setAttester(address)", d.guardian).hex())


def fund(w3: Web3, chain: DeployedChain, holder: str, amounts: dict[str, int]) -> None:
    """Mint tokens (in base units) to `holder`, e.g. the demo treasury's executor."""
    d = Deployer(w3)
    for symbol, amount in amounts.items():
        token = d.at("TestERC20", chain.tokens[symbol][0])
        d.send(token.functions.mint(holder, amount))
