"""The base-fee predictor scored live on the session's chain 1, and what it exposes."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from floor.chain.feewatch import WARM_UP_BLOCKS, FeeWatch


def test_every_block_is_scored_once_and_the_errors_are_exposed(web3s):
    w3 = web3s[1]
    # From 100 gwei, so the fee is still falling (12.5% a block) whatever ran before.
    w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(100 * 10**9)])
    for _ in range(WARM_UP_BLOCKS + 5):  # enough history for a warm-up of full length
        w3.provider.make_request("evm_mine", [])
    watch = FeeWatch(w3, 1, poll_s=1)
    first = watch.poll()[1].n
    assert first == WARM_UP_BLOCKS - 1  # every block after the first settles a 1-ahead prediction

    for _ in range(20):
        w3.provider.make_request("evm_mine", [])
    stats = watch.poll()
    assert stats[1].n == first + 20  # each new block once, none twice
    assert stats[10].n == stats[1].n - 9
    assert watch.poll()[1].n == first + 20  # no new block: nothing scored again

    # Empty blocks lower the base fee 12.5% each: "stays as it is" is always wrong.
    assert stats[1].naive_mae > 0
    text = generate_latest(REGISTRY).decode()
    for name in ("floor_basefee_prediction_mae_gwei", "floor_basefee_naive_mae_gwei"):
        value = REGISTRY.get_sample_value(name, {"chain_id": "1", "horizon_blocks": "3"})
        assert value is not None and name in text
    assert (
        REGISTRY.get_sample_value("floor_basefee_naive_mae_gwei", {"chain_id": "1", "horizon_blocks": "1"})
        == stats[1].naive_mae / 10**9
    )
    coverage = REGISTRY.get_sample_value(
        "floor_basefee_interval_coverage_ratio", {"chain_id": "1", "horizon_blocks": "1"}
    )
    assert coverage == stats[1].coverage
