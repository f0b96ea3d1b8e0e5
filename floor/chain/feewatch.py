"""The base-fee predictor scored live on the chain the engine runs against.

`FeeWatch` follows a chain's blocks (one `eth_feeHistory` per poll covering every block since
the last), feeds each base fee to a `PredictionTracker`, and publishes its running errors
against the naive forecast and its interval coverage as Prometheus gauges. The first poll
starts from the last 64 blocks. The worker runs one per chain on a daemon thread; a failed
poll is logged and the next one catches up.
"""

from __future__ import annotations

import threading

from web3 import Web3

from floor import metrics
from floor.chain.basefee import PredictionTracker, TrackerStats
from floor.logging import get_logger

GWEI = 10**9
WARM_UP_BLOCKS = 64
MAX_BLOCKS_PER_POLL = 1024  # eth_feeHistory's cap on most nodes


class FeeWatch:
    def __init__(self, w3: Web3, chain_id: int, poll_s: float):
        self.w3, self.chain_id, self.poll_s = w3, chain_id, poll_s
        self.tracker = PredictionTracker()
        self.last: int | None = None
        self.log = get_logger(chain_id=chain_id)
        self._stop = threading.Event()

    def poll(self) -> dict[int, TrackerStats]:
        """Feed every block since the last poll; returns the stats per horizon."""
        head = self.w3.eth.block_number
        first = head - WARM_UP_BLOCKS + 1 if self.last is None else self.last + 1
        first = max(first, head - MAX_BLOCKS_PER_POLL + 1, 0)
        if first <= head:
            history = self.w3.eth.fee_history(head - first + 1, head, [])
            oldest = int(history["oldestBlock"])
            # baseFeePerGas has one more entry than blocks: the next block's, known already.
            for offset, fee in enumerate(history["baseFeePerGas"][: head - oldest + 1]):
                if int(fee) > 0:
                    self.tracker.record(oldest + offset, int(fee))
            self.last = head
        stats = self.tracker.stats()
        self.publish(stats)
        return stats

    def publish(self, stats: dict[int, TrackerStats]) -> None:
        chain = str(self.chain_id)
        for horizon, s in stats.items():
            labels = (chain, str(horizon))
            metrics.BASEFEE_SETTLED.labels(*labels).set(s.n)
            if s.n:
                metrics.BASEFEE_MAE.labels(*labels).set(s.mae / GWEI)
                metrics.BASEFEE_NAIVE_MAE.labels(*labels).set(s.naive_mae / GWEI)
                metrics.BASEFEE_COVERAGE.labels(*labels).set(s.coverage)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # a node hiccup: the next poll catches up
                self.log.warning("fee watch poll failed", error=type(exc).__name__)
            self._stop.wait(self.poll_s)

    def start(self) -> FeeWatch:
        threading.Thread(target=self.run, name=f"feewatch-{self.chain_id}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
