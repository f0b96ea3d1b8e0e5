"""Native ETH staking's refusals, named, and the deposit contract's revert strings that mean
them (ethereum/consensus-specs `solidity_deposit_contract/deposit_contract.sol`). EIP-7002's
predeploy reverts with no data at all, so its refusals are checked before sending instead."""

from __future__ import annotations

from floor.errors import BadInput, FloorError, InvalidAmount, MarketRefused
from floor.protocols.base import KnownRevert


class BadDepositData(BadInput):
    """A `deposit_data-*.json` entry that is malformed or does not hold together."""


class DepositDataRootMismatch(BadDepositData):
    """The entry's `deposit_data_root` is not the hash_tree_root of its own DepositData: the
    deposit contract would revert, or the file was edited after the CLI wrote it."""


class DepositMessageRootMismatch(BadDepositData):
    """The entry's `deposit_message_root` is not the hash_tree_root of its DepositMessage."""


class WrongWithdrawalCredentials(BadDepositData):
    """The withdrawal credentials do not pay the executor (0x01 or 0x02, eleven zero bytes, the
    executor's address): the staked ETH would belong to someone else."""


class WrongDepositAmount(InvalidAmount):
    """A deposit of anything but 32 ETH (32,000,000,000 gwei): the engine makes full deposits only."""


class WrongForkVersion(BadDepositData):
    """Deposit data signed for another network (its fork version is not this chain's genesis
    fork version): the beacon chain would ignore it and the 32 ETH would be lost."""


class BadSignature(BadDepositData):
    """The BLS signature does not verify over the deposit message (checked when asked)."""


class UnknownValidator(BadInput):
    """A validator the market's deposit data does not list."""


class ExitFeeTooLow(MarketRefused):
    """The fee offered for an EIP-7002 withdrawal request is below the predeploy's current fee."""


class ExitNotPossible(MarketRefused):
    """The validator cannot exit now (not active, already exiting, or unknown to the beacon node)."""


class BeaconUnavailable(FloorError):
    """The Beacon node's REST API did not answer, or answered with something that is not the
    API's shape: worth another try."""

    retryable = True


def _deposit(code: str, error: type[FloorError], meaning: str) -> KnownRevert:
    return KnownRevert(code.removeprefix("DepositContract: "), error, meaning, code=code)


REVERTS = (
    _deposit("DepositContract: invalid pubkey length", BadDepositData, "the pubkey is not 48 bytes"),
    _deposit(
        "DepositContract: invalid withdrawal_credentials length",
        BadDepositData,
        "the withdrawal credentials are not 32 bytes",
    ),
    _deposit("DepositContract: invalid signature length", BadDepositData, "the signature is not 96 bytes"),
    _deposit("DepositContract: deposit value too low", WrongDepositAmount, "a deposit is at least 1 ETH"),
    _deposit("DepositContract: deposit value not multiple of gwei", WrongDepositAmount, "a deposit is whole gwei"),
    _deposit("DepositContract: deposit value too high", WrongDepositAmount, "a deposit fits 64 bits of gwei"),
    _deposit(
        "DepositContract: reconstructed DepositData does not match supplied deposit_data_root",
        DepositDataRootMismatch,
        "the deposit_data_root is not the DepositData's hash_tree_root",
    ),
    _deposit("DepositContract: merkle tree full", MarketRefused, "the deposit tree is full"),
)


class DepositExists(MarketRefused):
    """A deposit for the validator key exists already (the beacon node knows the validator, or
    the deposit contract logged one): depositing now would join whoever made it, with their
    withdrawal credentials. The attester refuses to vouch for it."""


class AttesterUnavailable(FloorError):
    """No attester configured, or it could not be reached: a validator deposit needs its
    attestation, so nothing is sent. Retried: the attester may be back."""

    retryable = True


class AttesterNotConfigured(FloorError):
    """A validator deposit with no attester configured (`attester.url`): refused by name."""
