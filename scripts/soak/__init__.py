"""The soak (`make soak`): two weeks of the engine's life, compressed onto the local chains.

336 hourly cycles by default (`python -m scripts.soak --cycles N --seed S --out DIR`), each an
hour of chain time (anvil's `evm_increaseTime`): a rebalance check through the engine, a harvest
daily, capital requests and deposits, price moves, a market's TVL falling, stale feeds, and
faults on a seeded schedule (RPC errors and latency through a fault proxy, the worker
SIGKILLed, the Temporal dev server restarted, an anvil reorg), with the invariants checked
after every cycle. It writes report.md, summary.json and soak.svg to DIR (docs/soak/ by default).
"""
