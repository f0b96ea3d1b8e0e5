"""Small helpers the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from web3 import Web3

from floor.chain.multicall import MulticallReader
from floor.devnet.artifacts import load_artifact
from floor.devnet.context import Deployer, refresh_feeds
from floor.devnet.processes import free_port, start_anvil, stop_process
from floor.protocols.aave_v3.wadray import a_token_balance, a_token_mint_scaled


def contract(w3: Web3, name: str, address: str):
    return w3.eth.contract(address=address, abi=load_artifact(name).abi)


def mint(w3: Web3, token: str, to: str, amount: int) -> None:
    Deployer(w3).send(contract(w3, "TestERC20", token).functions.mint(to, amount))


def balance(w3: Web3, token: str, holder: str) -> int:
    return contract(w3, "TestERC20", token).functions.balanceOf(holder).call()


def advance_time(w3: Web3, seconds: int, *, keep_feeds_fresh: bool = True) -> None:
    """Move the chain's clock; the price feeds get a new round, as a real chain's would (the
    executor refuses a batch it cannot value), unless the test wants them stale."""
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])
    if keep_feeds_fresh:
        refresh_feeds(w3)


def check_aave_position(w3: Web3, adapter, position, deposited: int) -> None:
    """Aave stores aToken balances scaled by the liquidity index, rounding as V3.5 does: the
    scaled amount minted down, the balance down. So a fresh deposit reads back as
    floor(floor(amount / index) * index): the amount, or up to ceil(index) units under it."""
    pool = contract(w3, "AaveV3Pool", adapter.pool)
    index = pool.functions.getReserveNormalizedIncome(adapter.asset.address).call(
        block_identifier=position.block_number
    )
    assert position.amount == a_token_balance(a_token_mint_scaled(deposited, index), index), adapter.key


def check_vault_position(w3: Web3, adapter, position, deposited: int) -> None:
    """The vault's own value of the shares held, exactly; under the deposit by less than one
    share's worth plus one unit (shares are minted and valued rounding down)."""
    vault = contract(w3, "ERC4626Vault", adapter.vault)
    own_value = vault.functions.convertToAssets(position.shares).call(block_identifier=position.block_number)
    one_share = vault.functions.convertToAssets(1).call(block_identifier=position.block_number)
    assert position.amount == own_value, (adapter.key, position.amount, own_value)
    assert deposited - one_share - 1 <= position.amount <= deposited, (adapter.key, position.amount, deposited)


def check_deposit_position(w3: Web3, adapter, position, deposited: int) -> None:
    """A fresh deposit's position, to the base unit by the protocol's own rounding rules."""
    if position.shares is None:
        check_aave_position(w3, adapter, position, deposited)
    else:
        check_vault_position(w3, adapter, position, deposited)


def protected_calls(w3: Web3, adapter, action, account: str, slippage_bps: int = 1):
    """An action's calls guarded by a fresh quote, as the engine builds them. 1 bp by default:
    the transaction may be mined a second after the quote, and a vault's share price moves
    with that second's interest."""
    quote = adapter.decode_quote(action, MulticallReader(w3).read(adapter.quote_reads(action, account)).results)
    return adapter.protected_calls(action, account, quote, slippage_bps)


def positions_now(settings, web3s, keys) -> dict:
    """Positions of `keys` read from the chains now, by key."""
    from floor.adapters.registry import AdapterRegistry
    from floor.chain.positions import read_positions

    registry = AdapterRegistry.from_settings(settings)
    out = {}
    for chain_id in sorted({k.chain_id for k in keys}):
        chain = settings.chain(chain_id)
        reader = MulticallReader(web3s[chain_id], chain.multicall3)
        adapters = [registry.get(k) for k in keys if k.chain_id == chain_id]
        out |= {p.key: p for p in read_positions(reader, adapters, chain.executor)}
    return out


@contextmanager
def own_anvil(tmp_path_factory, chain_id: int, name: str) -> Iterator[str]:
    """A fresh anvil of the test module's own (the session's chains untouched): its URL."""
    port = free_port()
    proc = start_anvil(port, chain_id, tmp_path_factory.mktemp(f"{name}-anvil") / "anvil.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def freeze_clock(w3: Web3) -> None:
    """Blocks keep the latest block's time until a test moves it (`advance_clock`). A Curve
    gauge's checkpoint writes new storage once a second has passed since the last one, so
    with anvil mining by the wall clock a gas estimate made in one second and a block mined
    in the next could differ by ~90k gas: a test would pass or fail with the second it crossed."""
    w3.provider.make_request("anvil_setBlockTimestampInterval", [0])


def advance_clock(w3: Web3, seconds: int, *, keep_feeds_fresh: bool = True) -> None:
    """Mine a block `seconds` after the latest (on a frozen clock: nothing moves between)."""
    latest = w3.eth.get_block("latest")["timestamp"]
    w3.provider.make_request("evm_setNextBlockTimestamp", [latest + seconds])
    w3.provider.make_request("evm_mine", [])
    if keep_feeds_fresh:
        refresh_feeds(w3)


def reverting(w3: Web3) -> Iterator[None]:
    """For a module's autouse fixture: each test runs between a snapshot and its revert."""
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    yield
    assert w3.provider.make_request("evm_revert", [snapshot])["result"]


def innermost(err: BaseException) -> BaseException:
    """A workflow failure's own error: an operation's local activity fails it with the
    activity's ApplicationError, an activity with an ActivityError around it."""
    while getattr(err, "cause", None) is not None:
        err = err.cause
    return err
