"""`make bench` (`python -m scripts.bench`): the engine's benchmarks, printed as a table and
written to bench-results.json (a flat object, name -> number) so runs can be compared.

One module per benchmark, each saying what it measures: multicall, batch, txqueue, rebalance,
reconcile, positions, rewards, gas, cli; `harness` holds what they share, `wiring` how they
build the worker's activities, `queue_driver` how intents reach a transaction queue.

FLOOR_BENCH_ONLY=rebalance,txqueue (any of multicall, batch, txqueue, rebalance, reconcile,
positions, rewards, gas, cli) runs only those; FLOOR_BENCH_PROFILE=1 prints where the queue's
and the rebalance's time goes.
"""
