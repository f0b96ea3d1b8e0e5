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
Roles: the owner is a real 2-of-3 Safe of anvil's accounts 5, 6 and 7 (floor/devnet/owner.py:
every owner call is a Safe transaction, `as_owner`), account 3 the guardian, account 4 the
treasury's own address (the one transfer destination); the engine's signer is the operator.
Account 0 deploys, and administers the stand-ins (Lido's oracle, Rocket Pool's guardian, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.types import RPCEndpoint

from floor.calls import call
from floor.chain.multicall import MULTICALL3_ADDRESS
from floor.devnet.artifacts import load_artifact
from floor.devnet.context import (
    DAY_S,
    FEEDS,
    PRICES,
    REWARD_PRICES,
    TOKENS,
    DeployContext,
    Deployer,
    deploy_feed,
    live_feeds,
)
from floor.devnet.owner import LOCAL_SAFE, as_owner, deploy_owner_safe
from floor.permissions import ExecutorSetup, Feed, LossBound, PermissionSet, owner_calls
from floor.protocols import protocols
from floor.swaps.deploy import deploy_venue

# WETH is WETH9-like (deposit/withdraw), so staking adapters can unwrap it; what the deployer
# mints unwraps against ETH placed on the contract (a billion ETH, more than any test mints).
TOKEN_CONTRACTS = {"WETH": "TestWETH"}
WETH_BACKING_WEI = 10**9 * 10**18

# Each feed's heartbeat (s) per chain, as Chainlink's on that network: on Ethereum ETH/USD and
# DAI/USD update at least hourly, USDC/USD daily; on Arbitrum all daily.
HEARTBEATS = {
    1: {"USDC": 86_400, "WETH": 3_600, "DAI": 3_600},
    42161: {"USDC": 86_400, "WETH": 86_400, "DAI": 86_400},
}

# Entries per owner call: a call of 256 rules costs most of a block's gas, more than one Safe
# transaction can carry with the Safe's own costs; 64 leave room for batching several calls.
OWNER_CALL_ENTRIES = 64

# The local chains; which markets each has is each protocol package's choice (its deploy hook).
CHAIN_NAMES = {1: "ethereum", 42161: "arbitrum"}


@dataclass
class DeployedChain:
    chain_id: int
    name: str
    executor: str
    tokens: dict[str, tuple[str, int]]  # symbol -> (address, decimals)
    price_feeds: dict[str, dict[str, Any]] = field(default_factory=dict)  # symbol -> {feed, heartbeat_s}
    markets: list[dict[str, Any]] = field(default_factory=list)  # config-shaped market entries
    participant: str = ""
    owner: str = ""  # the executor's owner: the local Safe
    admin: str = ""  # the stand-ins' administrator (anvil's account 0): Lido's oracle, Rocket Pool's guardian
    guardian: str = ""
    treasury: str = ""  # the one listed transfer destination
    swaps: dict[str, Any] | None = None  # the swap venue's config (floor/swaps/deploy.py), where markets pay rewards

    def chain_config(self, rpc_url: str, confirmations: int = 1) -> dict[str, Any]:
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


def install_multicall3(w3: Web3) -> None:
    """Multicall3 lives at the same address on every chain; put its code there."""
    w3.provider.make_request(
        RPCEndpoint("anvil_setCode"), [MULTICALL3_ADDRESS, load_artifact("Multicall3").deployed_bytecode]
    )


def prepare_network(w3: Web3) -> str:
    """What `floor deploy` needs on a bare local chain (the demo's testnet): Multicall3, which
    `floor deploy verify` reads through, and the owner Safe with its contracts; the Safe."""
    install_multicall3(w3)
    return deploy_owner_safe(w3)


def deploy_chain(w3: Web3, chain_id: int, operator: str) -> DeployedChain:
    d = Deployer(w3)
    install_multicall3(w3)

    tokens = {
        symbol: d.deploy(TOKEN_CONTRACTS.get(symbol, "TestERC20"), name, symbol, decimals)
        for symbol, (name, decimals) in TOKENS.items()
    }
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [tokens["WETH"].address, hex(WETH_BACKING_WEI)])
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
        admin=d.admin,
        guardian=d.guardian,
        treasury=d.treasury,
    )

    context = DeployContext(chain_id=chain_id, deployer=d, tokens=tokens)
    for spec in protocols().values():
        if spec.deploy is not None:
            chain.markets += spec.deploy_hook()(context)
    chain.swaps = deploy_venue(context, chain.markets)  # the reward tokens' swap venue, over the markets' tokens

    chain.executor = deploy_executor(w3, operator)
    chain.owner = LOCAL_SAFE
    configure_executor(w3, chain.executor, chain_permissions(chain))
    return chain


def deploy_executor(w3: Web3, operator: str) -> str:
    """A FloorExecutor owned by the local Safe (deployed first where missing), guarded by
    anvil's account 3, operated by `operator`; its address."""
    d = Deployer(w3)
    return str(d.deploy("FloorExecutor", deploy_owner_safe(w3), operator, d.guardian).address)


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
        if symbol not in live_feeds(w3):
            price = {**PRICES, **REWARD_PRICES}.get(symbol)
            if price is None:
                raise ValueError(f"no local price for {symbol!r}: cannot value it on this chain")
            deploy_feed(d, FEEDS.get(symbol, f"{symbol} / USD"), price)
    feeds = {s: Feed(address, DAY_S) for s, address in live_feeds(w3).items()}
    return ExecutorSetup(permissions, feeds, LossBound(), tokens)


def configure_executor(w3: Web3, executor: str, setup: ExecutorSetup | PermissionSet) -> None:
    """Set the rules, lists, assets and bound, and make the guardian (anvil's account 3) the
    deposit attester too: the owner's calls, through the local Safe (`as_owner`). Bare rules
    are valued by the chain's local feeds (`local_setup`)."""
    if isinstance(setup, PermissionSet):
        setup = local_setup(w3, setup)
    d = Deployer(w3)
    attester = call(executor, "setAttester(address)", d.guardian)
    as_owner(w3, executor, [*owner_calls(executor, setup, per_call=OWNER_CALL_ENTRIES), attester])


def fund(w3: Web3, chain: DeployedChain, holder: str, amounts: dict[str, int]) -> None:
    """Mint tokens (in base units) to `holder`, e.g. the demo treasury's executor."""
    d = Deployer(w3)
    for symbol, amount in amounts.items():
        token = d.at("TestERC20", chain.tokens[symbol][0])
        d.send(token.functions.mint(holder, amount))
