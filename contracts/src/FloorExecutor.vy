# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title FloorExecutor
@notice Holds the treasury's funds and runs the engine's batched calls.
    Four roles: the owner (the treasury multisig) sets the rules, the operator (the engine's
    hot key) runs batches within them, the guardian (an on-call key) can pause, the attester
    (the watchdog's key) vouches that no deposit exists yet for a validator key.
    A leaked operator key is bounded twice:
    - where value goes: a rule allows one (target, selector) pair and puts a condition on
      every argument that decides where value goes or which venue holds it, as Zodiac Roles
      v2 does: the executor itself, a member of an owner-managed list of values (spenders,
      pool ids, coin indices, validator deposit roots), the hash of a static tuple in such a
      list (a Morpho market id, a swap route), an exact value, also one level into a dynamic
      tuple (Balancer's request);
    - how much it may lose: each rule names the assets its call can change; the executor
      values them (Chainlink feeds, rate providers) before the first call that touches them
      and after the batch, and reverts when the batch loses more than `maxLossBps` of the value
      it moved (or `lossFloor`, for fees), or when the losses of a rolling window pass
      `windowBudget` (replenished linearly, as Enzyme's cumulative slippage tolerance). There
      is no bypass: an asset that cannot be valued cannot be touched.
    Balance guards (guardStart/guardCheck) remain for the engine's own, tighter, per-action
    tolerance; the executor's bounds do not depend on them.
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
# Conditions and valued assets per rule; assets valued per batch; entries per admin call.
MAX_CHECKS: constant(uint256) = 6
MAX_RULE_ASSETS: constant(uint256) = 8
MAX_KEYED: constant(uint256) = 4  # assets of one key (an Aave reserve, a Morpho market)
MAX_TOUCHED: constant(uint256) = 32
MAX_ENTRIES: constant(uint256) = 256
MAX_SOURCE: constant(uint256) = 68
BPS: constant(uint256) = 10_000
WAD: constant(uint256) = 10**18

# DESTINATIONS holds where plain ETH and `transfer`s may go: the treasury's own addresses.
DESTINATIONS: constant(bytes32) = keccak256("floor.destinations")

# Condition operators. The value checked is the argument's 32-byte head word `word` (after the
# selector), or, with `inner` > 0, word `inner - 1` of the dynamic tuple or array that `word`
# points to.
IS_SELF: constant(uint8) = 0  # this executor's address
IN_LIST: constant(uint8) = 1  # a member of the owner's value list `list`
HASH_IN_LIST: constant(uint8) = 2  # keccak256 of `span` words from there is in `list`
EQUAL_TO: constant(uint8) = 3  # exactly `list` (a literal word)
# The head word is the offset of a `bytes` argument that must be withdrawal credentials paying
# this executor: exactly 32 bytes, 0x01 or 0x02, eleven zero bytes, then this address.
CREDENTIALS: constant(uint8) = 4
# In `list` (a registered validator's deposit_data_root, which pins its pubkey, credentials,
# signature and amount) the attester vouched for in this batch, and the target's
# get_deposit_root() is the one it signed: nobody deposited since it checked that no deposit
# exists for the key.
ATTESTED_DEPOSIT: constant(uint8) = 5

# How an asset's holding is read, in the units its feed prices.
BALANCE: constant(uint8) = 0  # balanceOf(this) (zero token: this executor's ETH)
BALANCE_TIMES_RATE: constant(uint8) = 1  # balance * source(sourceData) / 1e18 (a virtual price, a rate)
CONVERT_BALANCE: constant(uint8) = 2  # source(sourceData ++ balance) (ERC-4626 convertToAssets)
HOLDER_VALUE: constant(uint8) = 3  # source(sourceData ++ this) (a position that is not a token)
DEPOSITED: constant(uint8) = 4  # ETH this executor sent to `token` under a rule naming it (beacon deposits)

# Batch entries addressed to the executor itself run in place. Token zero is the ETH balance.
GUARD_START: constant(bytes4) = method_id("guardStart(address)", output_type=bytes4)
GUARD_CHECK: constant(bytes4) = method_id("guardCheck(address,int256)", output_type=bytes4)
ATTEST_DEPOSIT: constant(bytes4) = method_id("attestDeposit(bytes32,uint256,uint8,bytes32,bytes32,bytes32[])", output_type=bytes4)
MAX_ATTESTED: constant(uint256) = 16  # validators one attestation may vouch for

# EIP-712: what the attester signs.
DOMAIN_TYPEHASH: constant(bytes32) = keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
ATTESTATION_TYPEHASH: constant(bytes32) = keccak256("DepositRootAttestation(bytes32 depositRoot,bytes32[] depositDataRoots,uint256 deadline)")
NAME_HASH: constant(bytes32) = keccak256("FloorExecutor")
VERSION_HASH: constant(bytes32) = keccak256("1")


interface AggregatorV3:
    def latestRoundData() -> (uint80, int256, uint256, uint256, uint80): view

interface DepositContract:
    def get_deposit_root() -> bytes32: view


struct Call:
    target: address
    value: uint256
    data: Bytes[MAX_DATA]

struct Condition:
    word: uint256
    inner: uint256  # 0: the head word itself; k: word k-1 of the tuple/array `word` points to
    op: uint8
    span: uint256  # HASH_IN_LIST: how many words are hashed
    list: bytes32  # the list id; EQUAL_TO: the value

struct Rule:
    allowed: bool
    carriesValue: bool  # may the call carry ETH
    releases: bool  # `transfer(to, amount)` to a destination: value leaving to the treasury, not lost
    checks: DynArray[Condition, MAX_CHECKS]
    assets: DynArray[bytes32, MAX_RULE_ASSETS]  # what the call can change, valued around the batch
    # With keyWord k > 0, the call also changes the assets the owner keyed to its head word k-1
    # (keySpan > 1: the keccak of that many words, a Morpho market id): an Aave pool's supply
    # values only the reserve it names, not every reserve of the pool. A key with no assets
    # is refused: what cannot be valued cannot be touched.
    keyWord: uint256
    keySpan: uint256

struct Asset:
    kind: uint8
    token: address
    source: address
    sourceData: Bytes[MAX_SOURCE]
    feed: address  # Chainlink AggregatorV3; zero: not registered
    heartbeat: uint256
    scale: uint256  # value (USD, 18 decimals) = amount * answer * scale / 1e18

struct LossBound:
    maxLossBps: uint256  # of the value a batch moves
    lossFloor: uint256  # USD (18 decimals) a batch may lose whatever it moved: fees
    windowBudget: uint256  # USD (18 decimals) the losses of one window may reach
    windowPeriod: uint256  # seconds over which the budget replenishes


event CallExecuted:
    index: indexed(uint256)
    target: indexed(address)
    selector: bytes4
    value: uint256

event BatchValued:
    before: uint256
    after: uint256
    moved: uint256
    windowLoss: uint256

event RuleChanged:
    target: indexed(address)
    selector: indexed(bytes4)
    rule: Rule

event ListChanged:
    list: indexed(bytes32)
    member: indexed(bytes32)
    listed: bool

event AssetChanged:
    id: indexed(bytes32)
    asset: Asset

event KeyedAssetsChanged:
    target: indexed(address)
    key: indexed(bytes32)
    assets: DynArray[bytes32, MAX_KEYED]

event LossBoundChanged:
    bound: LossBound

event OperatorChanged:
    previous: indexed(address)
    next: indexed(address)

event GuardianChanged:
    previous: indexed(address)
    next: indexed(address)

event AttesterChanged:
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
attester: public(address)
paused: public(bool)
lossBound: public(LossBound)
# The window's losses as of `windowUpdated` (USD, 18 decimals), before replenishment.
windowLoss: public(uint256)
windowUpdated: public(uint256)
_rules: HashMap[address, HashMap[bytes4, Rule]]
_listed: HashMap[bytes32, HashMap[bytes32, bool]]
_assets: HashMap[bytes32, Asset]
_keyed: HashMap[bytes32, DynArray[bytes32, MAX_KEYED]]  # keccak(target, key) -> asset ids
_deposited: HashMap[bytes32, uint256]

# Our own lock rather than @nonreentrant, so a nested batch reverts with Reentrancy().
_locked: transient(bool)
# Balance snapshots taken by guardStart, per token, for the current batch.
_snapshot: transient(HashMap[address, uint256])
_snapshotted: transient(HashMap[address, bool])
# The deposit root the attester vouched for in this batch (moved on by our own deposits).
_attestedRoot: transient(bytes32)
# Feed answers read in this batch (updated 0: not read yet).
_feedAnswer: transient(HashMap[address, int256])
_feedUpdated: transient(HashMap[address, uint256])
# The validators (their deposit_data_roots) the attester checked and vouched for in this batch.
_attestedData: transient(HashMap[bytes32, bool])


@deploy
def __init__(owner_: address, operator_: address, guardian_: address):
    # No loss is allowed until the owner sets the bound: the safe default.
    if owner_ == empty(address) or operator_ == empty(address):
        raw_revert(method_id("ZeroAddress()"))
    self.owner = owner_
    self.operator = operator_
    self.guardian = guardian_
    self.lossBound.windowPeriod = 7 * 86_400
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
        engine never leaves a half-applied rebalance on chain. Then values what the
        batch changed and reverts if it lost more than the bound allows.
    """
    if msg.sender != self.operator:
        raw_revert(concat(method_id("NotOperator(address)"), abi_encode(msg.sender)))
    if self.paused:
        raw_revert(method_id("ExecutorPaused()"))
    # A target calling back in must not start a second batch.
    if self._locked:
        raw_revert(method_id("Reentrancy()"))
    self._locked = True

    # The assets the batch's rules name: id, value before (USD 1e18), price per amount unit
    # (answer * scale), and what left to the treasury's destinations (amount units).
    touched: DynArray[bytes32, MAX_TOUCHED] = []
    before: DynArray[uint256, MAX_TOUCHED] = []
    prices: DynArray[uint256, MAX_TOUCHED] = []
    released: DynArray[uint256, MAX_TOUCHED] = []

    results: DynArray[Bytes[MAX_RETURN], MAX_CALLS] = []
    for i: uint256 in range(len(calls), bound=MAX_CALLS):
        target: address = calls[i].target
        value: uint256 = calls[i].value
        selector: bytes4 = empty(bytes4)
        if len(calls[i].data) >= 4:
            selector = convert(slice(calls[i].data, 0, 4), bytes4)
        if target == self:
            self._self_call(i, selector, calls[i].data, value)
            results.append(b"")
        elif len(calls[i].data) == 0:
            # Plain ETH: only to a listed destination (the treasury's own addresses).
            if not self._listed[DESTINATIONS][self._word(target)]:
                raw_revert(concat(method_id("CallNotAllowed(uint256,address,bytes4)"), abi_encode(i, target, selector)))
            for k: uint256 in range(len(touched), bound=MAX_TOUCHED):
                if touched[k] == empty(bytes32):  # ETH's asset id
                    released[k] += value
            self._send(i, target, b"", value)
            results.append(b"")
        else:
            rule: Rule = self._rules[target][selector]
            self._check_rule(i, target, selector, calls[i].data, value, rule)
            changes: DynArray[bytes32, MAX_RULE_ASSETS + MAX_KEYED] = self._changes(i, target, calls[i].data, rule)
            for a: bytes32 in changes:
                if a not in touched:
                    if len(touched) == MAX_TOUCHED:
                        raw_revert(method_id("TooManyAssets()"))
                    price: uint256 = self._price(a)
                    touched.append(a)
                    prices.append(price)
                    before.append(self._holding(a) * price // WAD)
                    released.append(0)
            if rule.releases:
                # transfer(to, amount) of the target token to a destination (its rule's condition).
                for k: uint256 in range(len(touched), bound=MAX_TOUCHED):
                    if touched[k] == self._word(target):
                        released[k] += extract32(calls[i].data, 36, output_type=uint256)
            results.append(self._send(i, target, calls[i].data, value))
            if value != 0:
                for a: bytes32 in changes:
                    if self._assets[a].kind == DEPOSITED and self._assets[a].token == target:
                        self._deposited[a] += value
            if self._attestedRoot != empty(bytes32) and self._uses_attestation(rule):
                # Our own deposit moved the root on: the next one in this batch may follow it.
                self._attestedRoot = staticcall DepositContract(target).get_deposit_root()
        log CallExecuted(index=i, target=target, selector=selector, value=value)

    self._bound_loss(touched, before, prices, released)
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
def isListed(list: bytes32, member: bytes32) -> bool:
    return self._listed[list][member]


@view
@external
def assetOf(id: bytes32) -> Asset:
    return self._assets[id]


@view
@external
def keyedAssetsOf(target: address, key: bytes32) -> DynArray[bytes32, MAX_KEYED]:
    return self._keyed[keccak256(abi_encode(target, key))]


@view
@external
def valueOf(id: bytes32) -> uint256:
    """
    @notice What the executor holds of an asset, in USD with 18 decimals, as a batch values it.
    """
    return self._holding(id) * self._read_price(id) // WAD


@view
@external
def windowRemaining() -> uint256:
    """
    @notice How much a batch may still lose in the current window (USD, 18 decimals).
    """
    used: uint256 = self._window_used()
    return self.lossBound.windowBudget - min(used, self.lossBound.windowBudget)


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
        log RuleChanged(target=targets[i], selector=selectors[i], rule=rules[i])


@external
def setListed(list: bytes32, members: DynArray[bytes32, MAX_ENTRIES], listed: bool):
    """
    @notice Adds or removes values of an owner-managed list; an address is its 32-byte word.
        Zero is a value like another (Convex's pid 0, a coin index 0).
    """
    self._only_owner()
    if list == empty(bytes32):
        raw_revert(method_id("ZeroAddress()"))
    for member: bytes32 in members:
        self._listed[list][member] = listed
        log ListChanged(list=list, member=member, listed=listed)


@external
def setAssets(ids: DynArray[bytes32, MAX_ENTRIES], assets: DynArray[Asset, MAX_ENTRIES]):
    """
    @notice Registers how each asset is valued; a zero feed unregisters it.
    """
    self._only_owner()
    if len(ids) != len(assets):
        raw_revert(concat(method_id("LengthMismatch(uint256,uint256)"), abi_encode(len(ids), len(assets))))
    for i: uint256 in range(len(ids), bound=MAX_ENTRIES):
        if assets[i].kind > DEPOSITED or (assets[i].feed != empty(address) and (assets[i].heartbeat == 0 or assets[i].scale == 0)):
            raw_revert(concat(method_id("InvalidAsset(bytes32)"), abi_encode(ids[i])))
        self._assets[ids[i]] = assets[i]
        log AssetChanged(id=ids[i], asset=assets[i])


@external
def setKeyedAssets(target: address, keys: DynArray[bytes32, MAX_ENTRIES], assets: DynArray[DynArray[bytes32, MAX_KEYED], MAX_ENTRIES]):
    """
    @notice The assets a call on `target` changes for each key its rule reads (see Rule.keyWord).
    """
    self._only_owner()
    if len(keys) != len(assets):
        raw_revert(concat(method_id("LengthMismatch(uint256,uint256)"), abi_encode(len(keys), len(assets))))
    for i: uint256 in range(len(keys), bound=MAX_ENTRIES):
        self._keyed[keccak256(abi_encode(target, keys[i]))] = assets[i]
        log KeyedAssetsChanged(target=target, key=keys[i], assets=assets[i])


@external
def setLossBound(bound: LossBound):
    self._only_owner()
    if bound.maxLossBps > BPS or bound.windowPeriod == 0:
        raw_revert(method_id("InvalidLossBound()"))
    self.lossBound = bound
    log LossBoundChanged(bound=bound)


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
def setAttester(next: address):
    """
    @notice Zero removes the attester: no validator deposit can pass until one is set.
    """
    self._only_owner()
    log AttesterChanged(previous=self.attester, next=next)
    self.attester = next


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


@pure
@internal
def _word(a: address) -> bytes32:
    return convert(convert(a, uint256), bytes32)


@internal
def _send(i: uint256, target: address, data: Bytes[MAX_DATA], amount: uint256) -> Bytes[MAX_RETURN]:
    ok: bool = False
    ret: Bytes[MAX_RETURN] = b""
    ok, ret = raw_call(target, data, max_outsize=MAX_RETURN, value=amount, revert_on_failure=False)
    if not ok:
        raw_revert(concat(method_id("CallFailed(uint256,bytes)"), abi_encode(i, ret)))
    return ret


@view
@internal
def _check_rule(i: uint256, target: address, selector: bytes4, data: Bytes[MAX_DATA], call_value: uint256, rule: Rule):
    if len(data) < 4 or not rule.allowed:
        raw_revert(concat(method_id("CallNotAllowed(uint256,address,bytes4)"), abi_encode(i, target, selector)))
    if call_value != 0 and not rule.carriesValue:
        raw_revert(concat(method_id("ValueNotAllowed(uint256,uint256)"), abi_encode(i, call_value)))
    for check: Condition in rule.checks:
        pos: uint256 = self._position(i, data, check)
        arg: bytes32 = extract32(data, pos)
        ok: bool = False
        if check.op == IS_SELF:
            ok = arg == self._word(self)
        elif check.op == IN_LIST:
            ok = self._listed[check.list][arg]
        elif check.op == HASH_IN_LIST:
            if check.span == 0 or pos + 32 * check.span > len(data):
                raw_revert(concat(method_id("ArgumentMissing(uint256,uint256)"), abi_encode(i, check.word)))
            arg = keccak256(slice(data, pos, 32 * check.span))
            ok = self._listed[check.list][arg]
        elif check.op == EQUAL_TO:
            ok = arg == check.list
        elif check.op == CREDENTIALS:
            ok = self._pays_self(data, convert(arg, uint256))
        elif check.op == ATTESTED_DEPOSIT:
            attested: bytes32 = self._attestedRoot
            ok = self._listed[check.list][arg] and self._attestedData[arg] and attested != empty(bytes32) and staticcall DepositContract(target).get_deposit_root() == attested
        if not ok:
            raw_revert(concat(method_id("ArgumentNotAllowed(uint256,uint256,bytes32)"), abi_encode(i, check.word, arg)))


@pure
@internal
def _position(i: uint256, data: Bytes[MAX_DATA], check: Condition) -> uint256:
    """
    @notice Where in `data` the checked word starts, reverting if the calldata is too short:
        an offset cannot point the check outside the call.
    """
    pos: uint256 = 4 + 32 * check.word
    if check.word >= MAX_DATA or len(data) < pos + 32:
        raw_revert(concat(method_id("ArgumentMissing(uint256,uint256)"), abi_encode(i, check.word)))
    if check.inner != 0:
        offset: uint256 = extract32(data, pos, output_type=uint256)
        if offset >= MAX_DATA or check.inner > MAX_DATA:
            raw_revert(concat(method_id("ArgumentMissing(uint256,uint256)"), abi_encode(i, check.word)))
        pos = 4 + offset + 32 * (check.inner - 1)
        if len(data) < pos + 32:
            raw_revert(concat(method_id("ArgumentMissing(uint256,uint256)"), abi_encode(i, check.word)))
    return pos


@view
@internal
def _changes(i: uint256, target: address, data: Bytes[MAX_DATA], rule: Rule) -> DynArray[bytes32, MAX_RULE_ASSETS + MAX_KEYED]:
    """
    @notice The assets the call can change: its rule's, and those keyed to the word it names.
    """
    out: DynArray[bytes32, MAX_RULE_ASSETS + MAX_KEYED] = []
    for a: bytes32 in rule.assets:
        out.append(a)
    if rule.keyWord == 0:
        return out
    span: uint256 = max(rule.keySpan, 1)
    pos: uint256 = 4 + 32 * (rule.keyWord - 1)
    if rule.keyWord > MAX_DATA or span > MAX_DATA or len(data) < pos + 32 * span:
        raw_revert(concat(method_id("ArgumentMissing(uint256,uint256)"), abi_encode(i, rule.keyWord - 1)))
    key: bytes32 = extract32(data, pos)
    if span > 1:
        key = keccak256(slice(data, pos, 32 * span))
    keyed: DynArray[bytes32, MAX_KEYED] = self._keyed[keccak256(abi_encode(target, key))]
    if len(keyed) == 0:
        raw_revert(concat(method_id("AssetNotValued(bytes32)"), abi_encode(key)))
    for a: bytes32 in keyed:
        out.append(a)
    return out


@view
@internal
def _uses_attestation(rule: Rule) -> bool:
    for check: Condition in rule.checks:
        if check.op == ATTESTED_DEPOSIT:
            return True
    return False


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
def _self_call(i: uint256, selector: bytes4, data: Bytes[MAX_DATA], call_value: uint256):
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
    elif selector == ATTEST_DEPOSIT and len(data) >= 228:
        root: bytes32 = extract32(data, 4)
        deadline: uint256 = extract32(data, 36, output_type=uint256)
        v: uint8 = convert(extract32(data, 68, output_type=uint256), uint8)
        r: bytes32 = extract32(data, 100)
        s: bytes32 = extract32(data, 132)
        # The bytes32[] of deposit_data_roots, in its canonical place only: offset 0xc0.
        count: uint256 = extract32(data, 196, output_type=uint256)
        if extract32(data, 164, output_type=uint256) != 192 or count == 0 or count > MAX_ATTESTED or len(data) != 228 + 32 * count:
            raw_revert(concat(method_id("AttestationInvalid(uint256,address)"), abi_encode(i, empty(address))))
        roots: Bytes[MAX_DATA] = slice(data, 228, 32 * count)
        signer: address = ecrecover(self._attestation_digest(root, keccak256(roots), deadline), v, r, s)
        if block.timestamp > deadline or signer == empty(address) or signer != self.attester:
            raw_revert(concat(method_id("AttestationInvalid(uint256,address)"), abi_encode(i, signer)))
        self._attestedRoot = root
        for k: uint256 in range(count, bound=MAX_ATTESTED):
            self._attestedData[extract32(roots, 32 * k)] = True
    else:
        # The executor never calls itself: no batch can reach the admin functions.
        raw_revert(concat(method_id("CallNotAllowed(uint256,address,bytes4)"), abi_encode(i, self, selector)))


@view
@internal
def _attestation_digest(root: bytes32, data_roots_hash: bytes32, deadline: uint256) -> bytes32:
    # EIP-712: a bytes32[] member is the keccak of its packed elements.
    domain: bytes32 = keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))
    message: bytes32 = keccak256(abi_encode(ATTESTATION_TYPEHASH, root, data_roots_hash, deadline))
    return keccak256(concat(b"\x19\x01", domain, message))


@view
@internal
def _balance(token: address) -> uint256:
    if token == empty(address):
        return self.balance
    return staticcall IERC20(token).balanceOf(self)


@view
@internal
def _round(id: bytes32) -> (address, int256, uint256):
    """
    @notice The asset's feed and its latest answer and update time.
    """
    feed: address = self._assets[id].feed
    if feed == empty(address):
        raw_revert(concat(method_id("AssetNotValued(bytes32)"), abi_encode(id)))
    answer: int256 = 0
    updated: uint256 = 0
    _: uint80 = 0
    __: uint256 = 0
    ___: uint80 = 0
    _, answer, __, updated, ___ = staticcall AggregatorV3(feed).latestRoundData()
    return feed, answer, updated


@view
@internal
def _priced(id: bytes32, feed: address, answer: int256, updated: uint256) -> uint256:
    """
    @notice The answer times the asset's scale (USD, 18 decimals, per 1e18 amount units), if
        positive and within the asset's heartbeat.
    """
    if answer <= 0 or updated + self._assets[id].heartbeat < block.timestamp:
        raw_revert(concat(method_id("PriceUnusable(address,int256,uint256)"), abi_encode(feed, answer, updated)))
    return convert(answer, uint256) * self._assets[id].scale


@view
@internal
def _read_price(id: bytes32) -> uint256:
    feed: address = empty(address)
    answer: int256 = 0
    updated: uint256 = 0
    feed, answer, updated = self._round(id)
    return self._priced(id, feed, answer, updated)


@internal
def _price(id: bytes32) -> uint256:
    """
    @notice `_read_price`, one feed read per batch: many assets share a feed (USDC's prices a
        vault's shares, an aToken, LP tokens).
    """
    feed: address = self._assets[id].feed
    answer: int256 = self._feedAnswer[feed]
    updated: uint256 = self._feedUpdated[feed]
    if updated == 0:
        feed, answer, updated = self._round(id)
        self._feedAnswer[feed] = answer
        self._feedUpdated[feed] = updated
    return self._priced(id, feed, answer, updated)


@view
@internal
def _holding(id: bytes32) -> uint256:
    """
    @notice How much of the asset the executor holds, in the units its feed prices.
    """
    kind: uint8 = self._assets[id].kind
    if kind == DEPOSITED:
        return self._deposited[id]
    if kind == HOLDER_VALUE:
        return self._read(self._assets[id].source, concat(self._assets[id].sourceData, abi_encode(self)))
    balance: uint256 = self._balance(self._assets[id].token)
    if kind == BALANCE_TIMES_RATE:
        return balance * self._read(self._assets[id].source, self._assets[id].sourceData) // WAD
    if kind == CONVERT_BALANCE:
        return self._read(self._assets[id].source, concat(self._assets[id].sourceData, abi_encode(balance)))
    return balance


@view
@internal
def _read(source: address, data: Bytes[MAX_SOURCE + 32]) -> uint256:
    ret: Bytes[32] = raw_call(source, data, max_outsize=32, is_static_call=True)
    if len(ret) < 32:
        raw_revert(concat(method_id("RateUnavailable(address)"), abi_encode(source)))
    return extract32(ret, 0, output_type=uint256)


@view
@internal
def _window_used() -> uint256:
    # The window's losses less what has replenished since the last loss, never below zero.
    bound: LossBound = self.lossBound
    replenished: uint256 = bound.windowBudget * (block.timestamp - self.windowUpdated) // bound.windowPeriod
    used: uint256 = self.windowLoss
    if replenished >= used:
        return 0
    return used - replenished


@internal
def _bound_loss(touched: DynArray[bytes32, MAX_TOUCHED], before: DynArray[uint256, MAX_TOUCHED], prices: DynArray[uint256, MAX_TOUCHED], released: DynArray[uint256, MAX_TOUCHED]):
    total_before: uint256 = 0
    total_after: uint256 = 0
    moved: uint256 = 0
    for k: uint256 in range(len(touched), bound=MAX_TOUCHED):
        # What left to the treasury's own destinations was not lost.
        after: uint256 = (self._holding(touched[k]) + released[k]) * prices[k] // WAD
        total_before += before[k]
        total_after += after
        if before[k] > after:
            moved += before[k] - after
    if total_before <= total_after:
        if len(touched) != 0:
            log BatchValued(before=total_before, after=total_after, moved=moved, windowLoss=self._window_used())
        return
    loss: uint256 = total_before - total_after
    bound: LossBound = self.lossBound
    if loss > bound.lossFloor and loss * BPS > bound.maxLossBps * moved:
        raw_revert(concat(method_id("LossTooHigh(uint256,uint256,uint256)"), abi_encode(loss, moved, bound.maxLossBps)))
    used: uint256 = self._window_used() + loss
    if used > bound.windowBudget:
        raw_revert(concat(method_id("LossBudgetExceeded(uint256,uint256)"), abi_encode(used, bound.windowBudget)))
    self.windowLoss = used
    self.windowUpdated = block.timestamp
    log BatchValued(before=total_before, after=total_after, moved=moved, windowLoss=used)
