"""An anvil fork of a chain, for work that must not touch the chain itself (the exit drills):
`anvil --fork-url <the chain's RPC> --chain-id <id>` on a free loopback port, its state fetched
from the chain at the block it forks, nothing it does sent anywhere.

The fork dies with the process that started it (a parent-death signal, where `setpriv` is
installed), so a worker killed in the middle of a drill leaves no anvil behind; otherwise
`anvil_fork` stops it (its own process group: the npm wrapper and anvil) on the way out, also
on failure. No storage caching: a chain that was reset or rewritten is never read from a
stale cache of the same block number.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3
from web3.types import RPCEndpoint

from floor.chain.rpc import connect
from floor.devnet.processes import ANVIL, StackError, free_port, stop_process, wait_for_rpc


class ForkFailed(StackError):
    """No fork could be started from any of the chain's RPC URLs."""


@dataclass
class Fork:
    chain_id: int
    url: str
    w3: Web3
    process: subprocess.Popen[bytes]

    def impersonate(self, address: str, gas_wei: int = 10**19) -> None:
        """Send as `address` without its key, with `gas_wei` for gas."""
        self.w3.provider.make_request(RPCEndpoint("anvil_impersonateAccount"), [address])
        self.w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(gas_wei)])


def _dies_with_parent() -> list[str]:
    """The prefix that gives the fork a parent-death signal: util-linux's `setpriv`, which sets
    it and execs the fork (a `preexec_fn` would run Python in a child of a threaded worker)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM"] if setpriv else []


@contextmanager
def anvil_fork(
    rpc_urls: Sequence[str], chain_id: int, log_dir: Path | None = None, timeout_s: float = 30
) -> Iterator[Fork]:
    """A fork of the chain at its latest block, from the first of `rpc_urls` that serves one."""
    if not ANVIL.exists():
        raise ForkFailed(f"{ANVIL} is missing: run `npm ci` (make install) first")
    folder = log_dir or Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"anvil-fork-{chain_id}.log"
    why = []
    for i, url in enumerate(rpc_urls):
        port = free_port()
        args = [
            *_dies_with_parent(),
            str(ANVIL),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(chain_id),
        ]
        args += ["--fork-url", str(url), "--no-storage-caching", "--silent"]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            wait_for_rpc(f"http://127.0.0.1:{port}", process, f"the fork of chain {chain_id}", timeout_s)
            w3 = connect([f"http://127.0.0.1:{port}"], chain_id=chain_id)
        except Exception as exc:
            stop_process(process)
            why.append(f"RPC URL #{i + 1}: {type(exc).__name__}")  # the URL itself may hold a key
            continue
        try:
            yield Fork(chain_id, f"http://127.0.0.1:{port}", w3, process)
        finally:
            stop_process(process)
        return
    raise ForkFailed(f"no fork of chain {chain_id} could be started ({'; '.join(why)}); see {log_path}")
