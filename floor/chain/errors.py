"""Chain-access errors, named for the failure. Each maps one-to-one to a Temporal error type
(see `floor.errors`), so a workflow's retry policy follows what the failure means."""

from floor.errors import FloorError


class ChainError(FloorError):
    """Base of every chain-access failure; transient unless a subclass says otherwise."""

    retryable = True


class RpcUnavailable(ChainError):
    """Every RPC URL of a chain failed (connection refused, timeout, 5xx, a response that is
    not JSON-RPC)."""


class ChainMismatch(ChainError):
    """An RPC URL serves another chain than the one configured. Retrying cannot fix it."""

    retryable = False


class ExecutionReverted(ChainError):
    """The chain refused the call before anything was sent (gas estimation reverted).
    Nothing moved and no nonce was used; retrying the same calls would revert again.
    `error` names the engine error a protocol's known revert means (`ReservePaused`,
    `InsufficientLiquidity`, ...; `floor.protocols`), where the revert is one."""

    retryable = False

    def __init__(self, reason: str, data: str | None = None, error: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.data = data
        self.error = error


class TransactionFailed(ChainError):
    """A transaction was mined with status 0: its nonce is spent, its effects are not."""

    retryable = False


class NonceTooLow(ChainError):
    """The nonce was already used by another transaction of this signer."""

    retryable = False


class ConfirmationTimeout(ChainError):
    """No receipt, or not enough confirmations, within the allowed time."""
