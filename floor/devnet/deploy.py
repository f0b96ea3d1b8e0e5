"""Deploy the local stand-ins and the executor on an anvil chain, and describe them as config.

Each chain gets: ERC-20 tokens with real decimals, Multicall3 at its canonical address, an
Aave V3 price oracle stand-in with a USD price for every token, an Aave V3 pool stand-in (and
on Ethereum a second one serving as Spark), ERC-4626 vaults (MetaMorpho-like, and sDAI-like
on Ethereum), and the FloorExecutor configured with exactly the rules its adapters declare
(scoped arguments included). Other market participants supply and borrow, so the markets
have utilisation, interest and finite liquidity, as real ones do.
Roles: anvil's account 0 is the owner (the multisig's stand-in), account 3 the guardian,
account 4 the treasury's own address (the one transfer destination); the engine's signer is
the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from web3 import Web3
from web3.contract import Contract

from floor.chain.multicall import MULTICALL3_ADDRESS
from floor.devnet.artifacts import load_artifact
from floor.permissions import PermissionSet, owner_calls

RAY = 10**27
WAD = 10**18
YEAR = 365 * 24 * 3600

TOKENS = {"USDC": ("USD Coin", 6), "WETH": ("Wrapped Ether", 18), "DAI": ("Dai Stablecoin", 18)}

# The price oracle's base currency: USD (address zero, as on Aave's markets), 8 decimals.
USD = "0x0000000000000000000000000000000000000000"
USD_UNIT = 10**8
# What the oracle answers per whole token, in USD_UNIT units.
PRICES = {"USDC": 1 * USD_UNIT, "WETH": 3_000 * USD_UNIT, "DAI": 1 * USD_UNIT}

# Per chain: the markets to deploy. Aave reserves: (protocol, [assets]); vaults: (protocol, name, asset).
CHAIN_LAYOUT = {
    1: {
        "name": "ethereum",
        "aave": [("aave-v3", ["USDC", "WETH", "DAI"]), ("spark", ["USDC", "DAI"])],
        "vaults": [("metamorpho", "steakUSDC", "USDC"), ("metamorpho", "gtWETH", "WETH"), ("sdai", "sDAI", "DAI")],
    },
    42161: {
        "name": "arbitrum",
        "aave": [("aave-v3", ["USDC", "WETH"])],
        "vaults": [("metamorpho", "gtUSDC", "USDC")],
    },
}

# Interest-rate model of every stand-in reserve: borrow APR = slope * utilisation.
AAVE_SLOPE_RAY = RAY // 10  # 10% APR at full utilisation
VAULT_BORROW_APR = 0.06

# What other participants hold in each market, in whole tokens: supplied, then borrowed.
PARTICIPANT_SUPPLY = {"USDC": 2_000_000, "WETH": 1_000, "DAI": 2_000_000}
PARTICIPANT_BORROW_FRACTION = (2, 5)  # 40% of what they supplied


@dataclass
class DeployedChain:
    chain_id: int
    name: str
    executor: str
    tokens: dict[str, tuple[str, int]]  # symbol -> (address, decimals)
    price_oracle: str = ""
    markets: list[dict] = field(default_factory=list)  # config-shaped market entries
    participant: str = ""
    owner: str = ""
    guardian: str = ""
    treasury: str = ""  # the one listed transfer destination

    def chain_config(self, rpc_url: str, confirmations: int = 1) -> dict:
        return {
            "id": self.chain_id,
            "name": self.name,
            "rpc_urls": [rpc_url],
            "confirmations": confirmations,
            "executor": self.executor,
            "destinations": [self.treasury],
            "multicall3": MULTICALL3_ADDRESS,
            "price_oracle": self.price_oracle,
            "tokens": [{"symbol": s, "address": a, "decimals": d} for s, (a, d) in self.tokens.items()],
            "markets": [dict(m) for m in self.markets],  # a copy: callers may extend theirs
        }


class Deployer:
    """Sends from anvil's unlocked accounts (anvil signs); the engine's own signer is separate."""

    def __init__(self, w3: Web3):
        self.w3 = w3
        accounts = w3.eth.accounts
        self.admin, self.participant = accounts[0], accounts[2]
        self.guardian, self.treasury = accounts[3], accounts[4]

    def deploy(self, name: str, *args) -> Contract:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self._wait(factory.constructor(*args).transact({"from": self.admin}))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)

    def at(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=address, abi=load_artifact(name).abi)

    def send(self, fn, sender: str | None = None):
        return self._wait(fn.transact({"from": sender or self.admin}))

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


def deploy_chain(w3: Web3, chain_id: int, operator: str) -> DeployedChain:
    layout = CHAIN_LAYOUT[chain_id]
    d = Deployer(w3)
    install_multicall3(w3)

    tokens = {symbol: d.deploy("TestERC20", name, symbol, decimals) for symbol, (name, decimals) in TOKENS.items()}
    oracle = d.deploy("AaveOracle", d.admin, USD, USD_UNIT)
    for symbol, token in tokens.items():
        d.send(oracle.functions.setAssetPrice(token.address, PRICES[symbol]))
    chain = DeployedChain(
        chain_id=chain_id,
        name=layout["name"],
        executor="",
        tokens={s: (t.address, TOKENS[s][1]) for s, t in tokens.items()},
        price_oracle=oracle.address,
        participant=d.participant,
        owner=d.admin,
        guardian=d.guardian,
        treasury=d.treasury,
    )

    for protocol, assets in layout["aave"]:
        pool = d.deploy("AaveV3Pool", d.admin)
        for symbol in assets:
            decimals = TOKENS[symbol][1]
            prefix = "a" if protocol == "aave-v3" else "sp"
            a_token = d.deploy(
                "AaveAToken",
                pool.address,
                tokens[symbol].address,
                f"{protocol} {symbol}",
                f"{prefix}{symbol}",
                decimals,
            )
            d.send(pool.functions.initReserve(tokens[symbol].address, a_token.address, 0, AAVE_SLOPE_RAY))
            _seed_aave(d, tokens[symbol], pool, PARTICIPANT_SUPPLY[symbol] * 10**decimals)
            chain.markets.append(
                {
                    "protocol": protocol,
                    "adapter": "aave_v3",
                    "market": symbol,
                    "asset": symbol,
                    "pool": pool.address,
                    "a_token": a_token.address,
                }
            )

    for protocol, name, symbol in layout["vaults"]:
        vault = d.deploy("ERC4626Vault", tokens[symbol].address, name, name, d.admin)
        d.send(vault.functions.setBorrowRate(int(VAULT_BORROW_APR * WAD) // YEAR))
        _seed_vault(d, tokens[symbol], vault, PARTICIPANT_SUPPLY[symbol] * 10 ** TOKENS[symbol][1])
        chain.markets.append(
            {"protocol": protocol, "adapter": "erc4626", "market": name, "asset": symbol, "vault": vault.address}
        )

    executor = d.deploy("FloorExecutor", d.admin, operator, d.guardian)
    chain.executor = executor.address
    configure_executor(w3, chain.executor, chain_permissions(chain))
    return chain


def _seed_aave(d: Deployer, token: Contract, pool: Contract, supplied: int) -> None:
    borrowed = supplied * PARTICIPANT_BORROW_FRACTION[0] // PARTICIPANT_BORROW_FRACTION[1]
    d.send(token.functions.mint(d.participant, supplied))
    d.send(token.functions.approve(pool.address, supplied), d.participant)
    d.send(pool.functions.supply(token.address, supplied, d.participant, 0), d.participant)
    d.send(pool.functions.borrow(token.address, borrowed, 2, 0, d.participant), d.participant)


def _seed_vault(d: Deployer, token: Contract, vault: Contract, supplied: int) -> None:
    lent = supplied * PARTICIPANT_BORROW_FRACTION[0] // PARTICIPANT_BORROW_FRACTION[1]
    d.send(token.functions.mint(d.participant, supplied))
    d.send(token.functions.approve(vault.address, supplied), d.participant)
    d.send(vault.functions.deposit(supplied, d.participant), d.participant)
    d.send(vault.functions.lend(lent, d.participant))


def chain_permissions(chain: DeployedChain) -> PermissionSet:
    """What the adapters of the chain's markets declare they need, and transfers to the treasury."""
    from floor.adapters.registry import executor_permissions
    from floor.config import ChainConfig

    return executor_permissions(ChainConfig.model_validate(chain.chain_config("http://127.0.0.1:1")))


def configure_executor(w3: Web3, executor: str, permissions: PermissionSet) -> None:
    """Send the owner's rule and list settings (the devnet's owner is anvil's account 0)."""
    d = Deployer(w3)
    for c in owner_calls(executor, permissions):
        d.send_data(c.target, c.data)


def fund(w3: Web3, chain: DeployedChain, holder: str, amounts: dict[str, int]) -> None:
    """Mint tokens (in base units) to `holder`, e.g. the demo treasury's executor."""
    d = Deployer(w3)
    for symbol, amount in amounts.items():
        token = d.at("TestERC20", chain.tokens[symbol][0])
        d.send(token.functions.mint(holder, amount))
