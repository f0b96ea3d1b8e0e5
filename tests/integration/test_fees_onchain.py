"""The fee policy against a real node (anvil): eth_feeHistory decoded as the blocks say, and the
suggested fees get a transaction mined."""

from __future__ import annotations

from floor.chain.fees import fees_for, read_fee_history, suggest_fees
from floor.models import Priority

CHAIN = 1


def mine(w3, blocks: int) -> None:
    # Empty blocks from a 10 gwei base fee: anvil lowers it by 1/8 each, so every block's
    # base fee differs (whatever the suite mined before, which may have decayed it to its floor).
    w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(10 * 10**9)])
    for _ in range(blocks):
        w3.provider.make_request("evm_mine", [])


def test_fee_history_matches_the_blocks(settings, web3s):
    # 20 blocks: while they are empty the base fee falls 12.5% a block, all distinct (a long
    # window of empty blocks reaches anvil's floor, where they repeat).
    w3, config = web3s[CHAIN], settings.chain(CHAIN).tx.model_copy(update={"fee_history_blocks": 20})
    n = config.fee_history_blocks
    mine(w3, n + 5)
    latest = w3.eth.block_number
    history = read_fee_history(w3, config)
    assert history.oldest_block == latest - n + 1
    assert len(history.base_fees) == n + 1
    assert len(history.gas_used_ratios) == n and len(history.rewards) == n
    assert history.percentiles == sorted(set(config.tip_percentiles.values()))
    assert all(len(r) == len(history.percentiles) for r in history.rewards)
    for i, base_fee in enumerate(history.base_fees[:-1]):
        assert base_fee == w3.eth.get_block(history.oldest_block + i)["baseFeePerGas"]
    assert history.base_fees[-1] == w3.eth.get_block("pending")["baseFeePerGas"]
    assert len(set(history.base_fees)) == n + 1  # the comparison above was not trivially equal
    # A window ending at an older block, by number. (Its last, "next" base fee is not checked:
    # anvil gives the pending block's there, where geth gives the block after the window's.)
    older = read_fee_history(w3, config, block=latest - 3)
    assert older.oldest_block == latest - 3 - n + 1
    assert older.base_fees[:-1] == [w3.eth.get_block(b)["baseFeePerGas"] for b in range(latest - 2 - n, latest - 2)]


def test_tips_in_recent_blocks_set_the_tip(settings, web3s):
    w3, config = web3s[CHAIN], settings.chain(CHAIN).tx
    mine(w3, config.fee_history_blocks)
    sender = w3.eth.accounts[0]
    tip = 3 * config.tip_floor_wei
    tx = {"from": sender, "to": sender, "value": 0, "type": 2, "maxPriorityFeePerGas": tip, "maxFeePerGas": 10 * tip}
    assert w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))["status"] == 1
    history = read_fee_history(w3, config)
    # One block with a tip among empty ones: the empty ones are skipped, so its tip is the median.
    assert sum(1 for r in history.rewards if any(r)) == 1
    assert fees_for(history, Priority.NORMAL, config).max_priority_fee_per_gas == tip


def test_suggested_fees_get_a_transaction_mined(settings, web3s):
    w3, config = web3s[CHAIN], settings.chain(CHAIN).tx
    mine(w3, config.fee_history_blocks)  # a window of empty blocks, past the deployment's
    sender = w3.eth.accounts[0]
    tip = 2 * config.tip_floor_wei  # one recent block's tip, above the floor: the suggestion's
    tx = {"from": sender, "to": sender, "value": 0, "type": 2, "maxPriorityFeePerGas": tip, "maxFeePerGas": 10 * tip}
    assert w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))["status"] == 1
    fees = suggest_fees(w3, Priority.NORMAL, config)
    assert fees == fees_for(read_fee_history(w3, config), Priority.NORMAL, config)
    assert fees.max_priority_fee_per_gas == tip
    pending_base_fee = w3.eth.get_block("pending")["baseFeePerGas"]
    assert fees.max_fee_per_gas >= pending_base_fee + fees.max_priority_fee_per_gas
    tx_hash = w3.eth.send_transaction(
        {
            "from": sender,
            "to": sender,
            "value": 0,
            "type": 2,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1
    assert receipt["effectiveGasPrice"] == pending_base_fee + fees.max_priority_fee_per_gas
