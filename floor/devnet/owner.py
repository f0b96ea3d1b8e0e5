"""The local chains' executor owner: a real Safe (1.4.1, the npm build at its canonical
addresses) with anvil's accounts 5, 6 and 7 as owners and a threshold of 2, salt nonce 0: the
Safe deploy/networks/*.toml name, at the same address on every local chain.

- `deploy_owner_safe(w3) -> str`: the Safe contracts and the Safe (idempotent), paid by the
  first owner so the deployer's (account 0's) nonces, and the addresses they give, stay as
  they were.
- `as_owner(w3, executor, calls) -> TxReceipt`: the executor owner's calls as one Safe
  transaction (several: a delegatecall to MultiSendCallOnly, all or nothing), signed by two of
  the three owners and run by `execTransaction` (sent by the first owner); a refused or failed
  one raises, so a caller never goes on with rules half set.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import Web3RPCError
from web3.logs import DISCARD
from web3.types import TxReceipt

from floor.calls import encode_call
from floor.deploy import safe as safe_module
from floor.devnet.context import anvil_account_key
from floor.models import Call

OWNER_ACCOUNTS = (5, 6, 7)  # anvil's accounts: the Safe's owners
THRESHOLD = 2
SALT_NONCE = 0
LOCAL_SAFE = "0x5eD28B876127cb9a90a67Ff571E74feA50bB56F9"  # safe_address of the above (deploy/networks)

OwnerCall = Call | ContractFunction


def owner_addresses(w3: Web3) -> list[str]:
    accounts = list(w3.eth.accounts)
    return [to_checksum_address(accounts[i]) for i in OWNER_ACCOUNTS]


def deploy_owner_safe(w3: Web3) -> str:
    """The local owner Safe, with the Safe contracts it needs, deployed where missing."""
    payer = owner_addresses(w3)[0]
    contracts = safe_module.deploy_safe_contracts(w3, payer)
    safe = safe_module.create_safe(w3, contracts, owner_addresses(w3), THRESHOLD, SALT_NONCE, sender=payer)
    if safe != LOCAL_SAFE:
        raise safe_module.SafeError(f"the local owner Safe landed at {safe}, not {LOCAL_SAFE}")
    return safe


def executor_owner(w3: Web3, executor: str) -> str:
    raw = w3.eth.call({"to": to_checksum_address(executor), "data": HexStr("0x" + encode_call("owner()").hex())})
    return to_checksum_address(bytes(raw)[12:32])


def as_call(c: OwnerCall) -> Call:
    if isinstance(c, Call):
        return c
    return Call(target=to_checksum_address(c.address), data=c._encode_transaction_data())


def as_owner(w3: Web3, executor: str, calls: Sequence[OwnerCall]) -> TxReceipt:
    """Run `calls` as the executor's owner, the local Safe: one Safe transaction signed by two
    owners, or, where one would not fit in a block, several in order (halves, then quarters, ...),
    each all or nothing. The (last) receipt carries the executor's events."""
    safe = executor_owner(w3, executor)
    if safe != LOCAL_SAFE:
        raise safe_module.SafeError(f"the executor {executor} is owned by {safe}, not the local Safe {LOCAL_SAFE}")
    return _run(w3, safe, [as_call(c) for c in calls])


def _run(w3: Web3, safe: str, calls: list[Call]) -> TxReceipt:
    try:
        return _exec(w3, safe, calls)
    except (safe_module.SafeTxRefused, Web3RPCError) as exc:
        # Several calls refused (GS013) or over the block's gas limit: a failing call, or more
        # gas than a block holds. Halves tell which: a failing call still fails alone.
        too_big = exc.code == "GS013" if isinstance(exc, safe_module.SafeTxRefused) else "gas" in str(exc)
        if not too_big or len(calls) == 1:
            raise
    half = len(calls) // 2
    _run(w3, safe, calls[:half])
    return _run(w3, safe, calls[half:])


def _exec(w3: Web3, safe: str, calls: list[Call]) -> TxReceipt:
    tx = safe_module.batch(calls, safe_module.safe_nonce(w3, safe))
    digest = safe_module.safe_tx_hash(w3.eth.chain_id, safe, tx)
    signers = OWNER_ACCOUNTS[:THRESHOLD]
    signatures = [safe_module.sign_safe_tx(digest, anvil_account_key(i)) for i in signers]
    receipt = safe_module.exec_transaction(w3, safe, tx, signatures, owner_addresses(w3)[0])
    contract = w3.eth.contract(address=to_checksum_address(safe), abi=safe_module.safe_artifact("Safe").abi)
    if not contract.events.ExecutionSuccess().process_receipt(receipt, errors=DISCARD):
        raise safe_module.SafeError(f"the Safe transaction {receipt['transactionHash'].hex()} did not succeed")
    return receipt
