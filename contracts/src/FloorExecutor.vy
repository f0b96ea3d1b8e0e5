# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title FloorExecutor
@notice Holds the treasury's funds and runs the engine's batched calls.
    The owner (treasury multisig) decides which (target, selector) pairs may be
    called; the operator (the engine's hot key) can only run batches made of
    those pairs, so a leaked operator key cannot move funds anywhere new.
"""

# Bounds of one batch. A batch is copied to memory at its full bound and every
# batch pays for that memory, so MAX_CALLS * MAX_DATA is kept small: 64 calls is
# 21 markets' deposits (3 calls each) on one chain, and 512 bytes is about four
# times the engine's longest call (Aave supply, 132 bytes).
MAX_CALLS: constant(uint256) = 64
MAX_DATA: constant(uint256) = 512
# Return data kept per call; also the most of an inner revert that CallFailed carries.
MAX_RETURN: constant(uint256) = 256
# Allowlist entries per setAllowedBatch.
MAX_PAIRS: constant(uint256) = 256


struct Call:
    target: address
    value: uint256
    data: Bytes[MAX_DATA]


event CallExecuted:
    index: indexed(uint256)
    target: indexed(address)
    selector: bytes4
    value: uint256

event OperatorChanged:
    previous: indexed(address)
    next: indexed(address)

event AllowlistChanged:
    target: indexed(address)
    selector: indexed(bytes4)
    allowed: bool

event Paused:
    by: indexed(address)

event Unpaused:
    by: indexed(address)

event OwnershipTransferred:
    previous: indexed(address)
    next: indexed(address)


owner: public(address)
operator: public(address)
paused: public(bool)
_allowed: HashMap[address, HashMap[bytes4, bool]]

# Our own lock rather than @nonreentrant, so a nested batch reverts with Reentrancy().
_locked: transient(bool)


@deploy
def __init__(owner_: address, operator_: address):
    if owner_ == empty(address) or operator_ == empty(address):
        raw_revert(method_id("ZeroAddress()"))
    self.owner = owner_
    self.operator = operator_
    log OwnershipTransferred(previous=empty(address), next=owner_)
    log OperatorChanged(previous=empty(address), next=operator_)


@payable
@external
def __default__():
    # Plain ETH only: a call to a function this contract lacks must fail, not pass silently.
    assert len(msg.data) == 0


@payable
@external
def execute(calls: DynArray[Call, MAX_CALLS]) -> DynArray[Bytes[MAX_RETURN], MAX_CALLS]:
    """
    @notice Runs every call in order; any failure reverts the whole batch so the
        engine never leaves a half-applied rebalance on chain.
    """
    if msg.sender != self.operator:
        raw_revert(concat(method_id("NotOperator(address)"), abi_encode(msg.sender)))
    if self.paused:
        raw_revert(method_id("ExecutorPaused()"))
    # A target calling back in must not start a second batch.
    if self._locked:
        raw_revert(method_id("Reentrancy()"))
    self._locked = True

    results: DynArray[Bytes[MAX_RETURN], MAX_CALLS] = []
    for i: uint256 in range(len(calls), bound=MAX_CALLS):
        target: address = calls[i].target
        value: uint256 = calls[i].value
        selector: bytes4 = empty(bytes4)
        if len(calls[i].data) >= 4:
            selector = convert(slice(calls[i].data, 0, 4), bytes4)
        if not self._allowed[target][selector]:
            raw_revert(concat(method_id("CallNotAllowed(uint256,address,bytes4)"), abi_encode(i, target, selector)))
        ok: bool = False
        ret: Bytes[MAX_RETURN] = b""
        ok, ret = raw_call(target, calls[i].data, max_outsize=MAX_RETURN, value=value, revert_on_failure=False)
        if not ok:
            raw_revert(concat(method_id("CallFailed(uint256,bytes)"), abi_encode(i, ret)))
        results.append(ret)
        log CallExecuted(index=i, target=target, selector=selector, value=value)

    self._locked = False
    return results


# Written out (not a public getter) so the ABI keeps the argument names.
@view
@external
def isAllowed(target: address, selector: bytes4) -> bool:
    return self._allowed[target][selector]


@external
def setOperator(next: address):
    self._only_owner()
    if next == empty(address):
        raw_revert(method_id("ZeroAddress()"))
    log OperatorChanged(previous=self.operator, next=next)
    self.operator = next


@external
def setAllowed(target: address, selector: bytes4, allowed: bool):
    self._only_owner()
    self._set_allowed(target, selector, allowed)


@external
def setAllowedBatch(targets: DynArray[address, MAX_PAIRS], selectors: DynArray[bytes4, MAX_PAIRS], allowed: bool):
    self._only_owner()
    if len(targets) != len(selectors):
        raw_revert(concat(method_id("LengthMismatch(uint256,uint256)"), abi_encode(len(targets), len(selectors))))
    for i: uint256 in range(len(targets), bound=MAX_PAIRS):
        self._set_allowed(targets[i], selectors[i], allowed)


@external
def pause():
    self._only_owner()
    self.paused = True
    log Paused(by=msg.sender)


@external
def unpause():
    self._only_owner()
    self.paused = False
    log Unpaused(by=msg.sender)


@external
def transferOwnership(next: address):
    self._only_owner()
    if next == empty(address):
        raw_revert(method_id("ZeroAddress()"))
    log OwnershipTransferred(previous=self.owner, next=next)
    self.owner = next


@internal
def _only_owner():
    if msg.sender != self.owner:
        raw_revert(concat(method_id("NotOwner(address)"), abi_encode(msg.sender)))


@internal
def _set_allowed(target: address, selector: bytes4, allowed: bool):
    if target == empty(address):
        raw_revert(method_id("ZeroAddress()"))
    self._allowed[target][selector] = allowed
    log AllowlistChanged(target=target, selector=selector, allowed=allowed)
