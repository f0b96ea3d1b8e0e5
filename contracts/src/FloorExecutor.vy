# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title FloorExecutor
@notice Holds the treasury's funds and runs the engine's batched calls.
    Three roles: the owner (the treasury multisig) sets the rules, the operator (the
    engine's hot key) runs batches within them, the guardian (an on-call key) can pause.
    A rule allows one (target, selector) pair and scopes the arguments that decide where
    money goes, as Zodiac Roles scopes a Safe module: an argument must be this executor
    itself (the receiver of a withdrawal, the beneficiary of a deposit) or a member of an
    owner-managed list (an approval's spender, a transfer's destination). So a leaked
    operator key can move funds only between the treasury's own positions.
    Balance guards let a batch assert that a balance of the executor moved by at least a
    bound, for protocols that take no min-out argument of their own.
"""

from ethereum.ercs import IERC20

# Bounds of one batch. A batch is copied to memory at its full bound and every
# batch pays for that memory, so MAX_CALLS * MAX_DATA is kept small: 64 calls is
# twelve guarded deposits (5 calls each) on one chain, and 1024 bytes holds the engine's
# longest call: Balancer V2's joinPool, whose request tuple carries the pool's tokens, the
# limits and the userData (772 bytes for a two-coin composable stable pool, 96 more per
# coin, so up to four coins). Larger plans are split into several batches by the engine.
MAX_CALLS: constant(uint256) = 64
MAX_DATA: constant(uint256) = 1024
# Return data kept per call; also the most of an inner revert that CallFailed carries.
MAX_RETURN: constant(uint256) = 256
# Scoped arguments per rule, and entries per batched admin call.
MAX_CHECKS: constant(uint256) = 4
MAX_ENTRIES: constant(uint256) = 256

# The list an argument must belong to. SELF is not a list: the argument must be this
# executor's own address. DESTINATIONS holds where plain ETH may be sent.
SELF: constant(bytes32) = empty(bytes32)
DESTINATIONS: constant(bytes32) = keccak256("floor.destinations")
# Not a list either: the argument is the head word (offset) of a `bytes` argument that must be
# withdrawal credentials paying this executor: exactly 32 bytes, 0x01 or 0x02, eleven zero
# bytes, then this address (a beacon deposit's withdrawal_credentials).
CREDENTIALS: constant(bytes32) = keccak256("floor.withdrawal_credentials")

# Batch entries addressed to the executor itself are balance guards, run in place.
# Token address zero stands for the executor's ETH balance.
GUARD_START: constant(bytes4) = method_id("guardStart(address)", output_type=bytes4)
GUARD_CHECK: constant(bytes4) = method_id("guardCheck(address,int256)", output_type=bytes4)


struct Call:
    target: address
    value: uint256
    data: Bytes[MAX_DATA]

struct ArgCheck:
    word: uint256  # the argument's 32-byte head word after the selector, 0 = first
    list: bytes32  # SELF, or the id of an owner-managed address list

struct Rule:
    allowed: bool
    carriesValue: bool  # may the call carry ETH
    checks: DynArray[ArgCheck, MAX_CHECKS]


event CallExecuted:
    index: indexed(uint256)
    target: indexed(address)
    selector: bytes4
    value: uint256

event RuleChanged:
    target: indexed(address)
    selector: indexed(bytes4)
    allowed: bool
    carriesValue: bool
    checks: DynArray[ArgCheck, MAX_CHECKS]

event ListChanged:
    list: indexed(bytes32)
    member: indexed(address)
    listed: bool

event OperatorChanged:
    previous: indexed(address)
    next: indexed(address)

event GuardianChanged:
    previous: indexed(address)
    next: indexed(address)

event Paused:
    by: indexed(address)

event Unpaused:
    by: indexed(address)

event OwnershipTransferStarted:
    previous: indexed(address)
    next: indexed(address)

event OwnershipTransferred:
    previous: indexed(address)
    next: indexed(address)


owner: public(address)
pendingOwner: public(address)
operator: public(address)
guardian: public(address)
paused: public(bool)
_rules: HashMap[address, HashMap[bytes4, Rule]]
_listed: HashMap[bytes32, HashMap[address, bool]]

# Our own lock rather than @nonreentrant, so a nested batch reverts with Reentrancy().
_locked: transient(bool)
# Balance snapshots taken by guardStart, per token, for the current batch.
_snapshot: transient(HashMap[address, uint256])
_snapshotted: transient(HashMap[address, bool])


@deploy
def __init__(owner_: address, operator_: address, guardian_: address):
    if owner_ == empty(address) or operator_ == empty(address):
        raw_revert(method_id("ZeroAddress()"))
    self.owner = owner_
    self.operator = operator_
    self.guardian = guardian_
    log OwnershipTransferred(previous=empty(address), next=owner_)
    log OperatorChanged(previous=empty(address), next=operator_)
    log GuardianChanged(previous=empty(address), next=guardian_)


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
        if target == self:
            self._guard(i, selector, calls[i].data, value)
            results.append(b"")
        else:
            self._check_rule(i, target, selector, calls[i].data, value)
            ok: bool = False
            ret: Bytes[MAX_RETURN] = b""
            ok, ret = raw_call(target, calls[i].data, max_outsize=MAX_RETURN, value=value, revert_on_failure=False)
            if not ok:
                raw_revert(concat(method_id("CallFailed(uint256,bytes)"), abi_encode(i, ret)))
            results.append(ret)
        log CallExecuted(index=i, target=target, selector=selector, value=value)

    self._locked = False
    return results


# ---------------------------------------------------------------- views
# Written out (not public getters) so the ABI keeps the argument names.


@view
@external
def isAllowed(target: address, selector: bytes4) -> bool:
    return self._rules[target][selector].allowed


@view
@external
def ruleOf(target: address, selector: bytes4) -> Rule:
    return self._rules[target][selector]


@view
@external
def isListed(list: bytes32, member: address) -> bool:
    return self._listed[list][member]


# ---------------------------------------------------------------- owner


@external
def setRules(targets: DynArray[address, MAX_ENTRIES], selectors: DynArray[bytes4, MAX_ENTRIES], rules: DynArray[Rule, MAX_ENTRIES]):
    """
    @notice Sets the rule of each (target, selector); a rule with allowed=False removes it.
    """
    self._only_owner()
    if len(targets) != len(selectors) or len(targets) != len(rules):
        raw_revert(concat(method_id("LengthMismatch(uint256,uint256)"), abi_encode(len(targets), len(rules))))
    for i: uint256 in range(len(targets), bound=MAX_ENTRIES):
        if targets[i] == empty(address) or targets[i] == self:
            raw_revert(method_id("ZeroAddress()"))
        self._rules[targets[i]][selectors[i]] = rules[i]
        log RuleChanged(target=targets[i], selector=selectors[i], allowed=rules[i].allowed, carriesValue=rules[i].carriesValue, checks=rules[i].checks)


@external
def setListed(list: bytes32, members: DynArray[address, MAX_ENTRIES], listed: bool):
    self._only_owner()
    if list == SELF:
        raw_revert(method_id("ZeroAddress()"))
    for member: address in members:
        if member == empty(address):
            raw_revert(method_id("ZeroAddress()"))
        self._listed[list][member] = listed
        log ListChanged(list=list, member=member, listed=listed)


@external
def setOperator(next: address):
    self._only_owner()
    if next == empty(address):
        raw_revert(method_id("ZeroAddress()"))
    log OperatorChanged(previous=self.operator, next=next)
    self.operator = next


@external
def setGuardian(next: address):
    """
    @notice Zero removes the guardian; the owner can always pause.
    """
    self._only_owner()
    log GuardianChanged(previous=self.guardian, next=next)
    self.guardian = next


@external
def pause():
    if msg.sender != self.owner and msg.sender != self.guardian:
        raw_revert(concat(method_id("NotGuardian(address)"), abi_encode(msg.sender)))
    self.paused = True
    log Paused(by=msg.sender)


@external
def unpause():
    # Only the owner: a guardian's key is for stopping, not for deciding it is safe again.
    self._only_owner()
    self.paused = False
    log Unpaused(by=msg.sender)


@external
def transferOwnership(next: address):
    """
    @notice Step one of two: `next` becomes owner only when it accepts, so a mistyped
        address cannot take the executor out of the treasury's hands. Zero cancels.
    """
    self._only_owner()
    self.pendingOwner = next
    log OwnershipTransferStarted(previous=self.owner, next=next)


@external
def acceptOwnership():
    if msg.sender != self.pendingOwner or msg.sender == empty(address):
        raw_revert(concat(method_id("NotPendingOwner(address)"), abi_encode(msg.sender)))
    log OwnershipTransferred(previous=self.owner, next=msg.sender)
    self.owner = msg.sender
    self.pendingOwner = empty(address)


# ---------------------------------------------------------------- internals


@internal
def _only_owner():
    if msg.sender != self.owner:
        raw_revert(concat(method_id("NotOwner(address)"), abi_encode(msg.sender)))


@internal
def _check_rule(i: uint256, target: address, selector: bytes4, data: Bytes[MAX_DATA], call_value: uint256):
    if len(data) == 0:
        # Plain ETH: only to a listed destination (the treasury's own addresses).
        if not self._listed[DESTINATIONS][target]:
            raw_revert(concat(method_id("CallNotAllowed(uint256,address,bytes4)"), abi_encode(i, target, selector)))
        return
    if len(data) < 4 or not self._rules[target][selector].allowed:
        raw_revert(concat(method_id("CallNotAllowed(uint256,address,bytes4)"), abi_encode(i, target, selector)))
    if call_value != 0 and not self._rules[target][selector].carriesValue:
        raw_revert(concat(method_id("ValueNotAllowed(uint256,uint256)"), abi_encode(i, call_value)))
    for check: ArgCheck in self._rules[target][selector].checks:
        end: uint256 = 4 + 32 * (check.word + 1)
        if len(data) < end:
            raw_revert(concat(method_id("ArgumentMissing(uint256,uint256)"), abi_encode(i, check.word)))
        arg: bytes32 = extract32(data, end - 32)
        ok: bool = False
        if check.list == SELF:
            ok = convert(arg, uint256) == convert(self, uint256)
        elif check.list == CREDENTIALS:
            ok = self._pays_self(data, convert(arg, uint256))
        elif convert(arg, uint256) <= convert(max_value(uint160), uint256):
            ok = self._listed[check.list][convert(convert(arg, uint160), address)]
        if not ok:
            raw_revert(concat(method_id("ArgumentNotAllowed(uint256,uint256,bytes32)"), abi_encode(i, check.word, arg)))


@view
@internal
def _pays_self(data: Bytes[MAX_DATA], offset: uint256) -> bool:
    # The `bytes` at `offset` (after the selector): its length word, then its first word.
    if offset > MAX_DATA or len(data) < 4 + offset + 64:
        return False
    length: uint256 = extract32(data, 4 + offset, output_type=uint256)
    value: uint256 = extract32(data, 4 + offset + 32, output_type=uint256)
    me: uint256 = convert(self, uint256)
    return length == 32 and (value == (1 << 248) | me or value == (2 << 248) | me)


@internal
def _guard(i: uint256, selector: bytes4, data: Bytes[MAX_DATA], call_value: uint256):
    if call_value != 0:
        raw_revert(concat(method_id("ValueNotAllowed(uint256,uint256)"), abi_encode(i, call_value)))
    if selector == GUARD_START and len(data) == 36:
        token: address = convert(convert(extract32(data, 4), uint160), address)
        self._snapshot[token] = self._balance(token)
        self._snapshotted[token] = True
    elif selector == GUARD_CHECK and len(data) == 68:
        token: address = convert(convert(extract32(data, 4), uint160), address)
        min_delta: int256 = extract32(data, 36, output_type=int256)
        if not self._snapshotted[token]:
            raw_revert(concat(method_id("GuardNotStarted(uint256,address)"), abi_encode(i, token)))
        before: uint256 = self._snapshot[token]
        after: uint256 = self._balance(token)
        if convert(after, int256) - convert(before, int256) < min_delta:
            raw_revert(concat(method_id("BalanceGuard(uint256,address,uint256,uint256,int256)"), abi_encode(i, token, before, after, min_delta)))
    else:
        # The executor never calls itself: no batch can reach the admin functions.
        raw_revert(concat(method_id("CallNotAllowed(uint256,address,bytes4)"), abi_encode(i, self, selector)))


@view
@internal
def _balance(token: address) -> uint256:
    if token == empty(address):
        return self.balance
    return staticcall IERC20(token).balanceOf(self)
