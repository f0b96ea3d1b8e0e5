"""Is this still the chain the engine knew? A remembered block (number, hash, and the genesis
hash) against what the node serves now.

A reorg within finality changes blocks above the remembered one; a deeper rewrite changes the
remembered block itself; a reset chain (a restarted anvil, a node pointed at another network
with the same chain id) has a head below it or another genesis. Either way nothing the engine
read or sent before can be trusted any more, and the callers stop (the transaction queue holds
itself, the CLI says so in one line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from floor.chain.errors import ChainError, RpcUnavailable
from floor.txqueue import ChainMark

# Only `w3.provider.make_request` and `w3.eth.block_number` are used: `floor status` checks the
# chains with a plain JSON-RPC stand-in (cli.onchain), without importing web3.
if TYPE_CHECKING:
    from web3 import Web3
    from web3.types import RPCEndpoint

GET_BLOCK_BY_NUMBER = cast("RPCEndpoint", "eth_getBlockByNumber")  # web3's NewType of str


class ChainRewritten(ChainError):
    """The chain's state does not match what the engine knew: a reset or a rewrite deeper than
    finality. Retrying cannot fix it; an operator decides (docs/runbooks/chain-reset.md)."""

    retryable = False


def _block(w3: Web3, tag: str | int) -> dict[str, Any] | None:
    param = tag if isinstance(tag, str) else hex(tag)
    response = w3.provider.make_request(GET_BLOCK_BY_NUMBER, [param, False])
    if "error" in response:
        raise RpcUnavailable(f"eth_getBlockByNumber({param}) failed: {str(response['error'])[:200]}")
    block: dict[str, Any] | None = response.get("result")
    return block


def final_block(w3: Web3, finality: str | int, head: int) -> int:
    """The highest block the chain no longer takes back: its `finalized`/`safe` tag, or
    `head - depth + 1` for a depth. A node that does not know the tag gives -1 (nothing final)."""
    if isinstance(finality, int):
        return head - finality + 1
    block = _block(w3, finality)
    return int(block["number"], 16) if block else -1


def hash_at(w3: Web3, number: int) -> str | None:
    """The hash of the chain's block `number` now (lower case), None when it has none (yet)."""
    block = _block(w3, number)
    return block["hash"].lower() if block else None


def mark_at(w3: Web3, number: int) -> ChainMark | None:
    block, genesis = _block(w3, number), _block(w3, 0)
    if block is None or genesis is None:
        return None
    return ChainMark(number=number, hash=block["hash"].lower(), genesis=genesis["hash"].lower())


def mismatch(w3: Web3, chain_id: int, mark: ChainMark | None) -> str | None:
    """Why the chain is not the one `mark` was taken on, in one line, or None."""
    if mark is None:
        return None
    genesis = _block(w3, 0)
    known = f"chain {chain_id} state does not match what the engine knew at block {mark.number}"
    if genesis is None or genesis["hash"].lower() != mark.genesis:
        return f"{known}: another genesis block (a reset chain or another network)"
    block = _block(w3, mark.number)
    if block is None:
        head = int(w3.eth.block_number)
        return f"{known}: the chain's head is block {head} (a reset chain)"
    if block["hash"].lower() != mark.hash:
        return f"{known}: block {mark.number} is now {block['hash']}, was {mark.hash} (rewritten past finality)"
    return None
