"""Native ETH staking on chain 1: the treasury's own validators, funded through the beacon
deposit contract and exited through EIP-7002's withdrawal request predeploy.

Deposit (32 ETH per validator, nothing else): WETH `withdraw(32 ETH x n)`, then for each
validator `deposit(pubkey, withdrawal_credentials, signature, deposit_data_root)` carrying 32
ETH, in one atomic batch. The validators come from the market's `deposit_data-*.json`
(ethstaking-deposit-cli's file), the next ones not yet deposited; each is checked before
anything is built (`deposit_data.check`: 32 ETH, this chain's fork version, credentials paying
the executor, both roots recomputed, the BLS signature if configured). The executor's rule on
`deposit` carries ETH and checks on chain that the withdrawal credentials pay the executor
itself (FloorExecutor.vy's CREDENTIALS scope): a stolen operator key cannot stake the
treasury's ETH into someone else's validator.

Exit: one raw call per validator to the EIP-7002 predeploy, 56 bytes (pubkey ++ amount 0 as
8 big-endian bytes: a full exit), carrying the predeploy's current fee, read from it first
(empty calldata returns it). The call has no selector: the executor sees the pubkey's first
four bytes as one, so the rule is per validator (target the predeploy, "selector" the pubkey's
prefix, value allowed), listed for every validator of the deposit data. The consensus layer
takes a request only from the validator's withdrawal address, and pays the exit only there:
the executor. Exits are queued: the exit queue, 256 epochs to withdrawable, then the sweep.

Reads: the validators live on the consensus layer. A `BeaconSnapshot` (one Beacon API request
for all the market's validators, `position.py`) is given to the adapter (`with_beacon`), whose
decoders add it to its Multicall3 reads: the executor's ETH (`getEthBalance`: what exits and
reward sweeps paid it, not yet wrapped) and the deposit count. Without a snapshot the position
is the on-chain part only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from floor.adapters.base import (
    RAY,
    Action,
    Adapter,
    Asset,
    Deposit,
    LiquidityReading,
    PositionReading,
    RateSnapshot,
    RawWrites,
    Withdraw,
    WithdrawAll,
    check_amount,
)
from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.errors import InvalidAmount
from floor.guards import Expected
from floor.models import AdapterKey, Call
from floor.permissions import (
    ATTESTED_DEPOSIT,
    CREDENTIALS,
    DEPOSITED,
    ZERO_ADDRESS,
    Condition,
    Membership,
    Permission,
    PermissionSet,
    ValuedAsset,
    list_id,
    to_self,
    token_asset,
)
from floor.protocols.native_eth import deposit_data as dd
from floor.protocols.native_eth.errors import (
    BadDepositData,
    ExitFeeTooLow,
    ExitNotPossible,
    UnknownValidator,
    WrongDepositAmount,
)
from floor.protocols.native_eth.validators import SWEEP_WAIT_S, BeaconSnapshot, Validator

DEPOSIT = "deposit(bytes,bytes,bytes,bytes32)"
WETH_WITHDRAW = "withdraw(uint256)"
WETH_DEPOSIT = "deposit()"
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
DEPOSIT_WEI = dd.DEPOSIT_WEI
FULL_EXIT = 0  # EIP-7002's amount for a full exit
DAY = 24 * 3600
# An exit's expected wait before any is requested: the exit queue (a few days when it is
# busy), 256 epochs (27.3 h) to withdrawable, then the sweep. A requested exit's own wait is
# computed from its withdrawable epoch (`BeaconSnapshot.exit_wait_s`).
EXIT_WAIT_S = 2 * DAY + 256 * 384 + SWEEP_WAIT_S


@dataclass(frozen=True)
class RawCallPermission(Permission):
    """A rule for a call without a selector (EIP-7002's raw calldata): the executor reads the
    calldata's first four bytes as the selector, so the rule is keyed on them."""

    prefix: bytes = b""

    @property
    def selector(self) -> bytes:
        return self.prefix


def withdrawal_request_data(pubkey: bytes, amount_gwei: int = FULL_EXIT) -> bytes:
    """EIP-7002's calldata: the 48-byte pubkey, then the amount in gwei as 8 big-endian bytes."""
    if len(pubkey) != 48:
        raise BadDepositData(f"a validator pubkey is 48 bytes, not {len(pubkey)}")
    if not 0 <= amount_gwei < 2**64:
        raise InvalidAmount(f"a withdrawal request's amount is 64 bits of gwei, got {amount_gwei}")
    return pubkey + amount_gwei.to_bytes(8, "big")


def deposits_list(deposit_contract: str) -> bytes:
    """The owner's list of registered validators' deposit_data_roots for a deposit contract."""
    return list_id("beacon.deposits", deposit_contract)


def exit_permission(predeploy: str, pubkey: bytes, eth: ValuedAsset) -> PermissionSet:
    # The fee is ETH the predeploy keeps (an excess too): valued, so a hostile fee is a loss.
    return PermissionSet(
        rules=(
            RawCallPermission(
                predeploy,
                f"EIP-7002 request for 0x{pubkey[:4].hex()}..",
                carries_value=True,
                prefix=pubkey[:4],
                assets=(eth.id,),
            ),
        ),
        assets=(eth,),
    )


@dataclass(frozen=True)
class NativeEthAdapter(RawWrites, Adapter):
    key: AdapterKey
    asset: Asset  # the chain's WETH
    deposit_contract: str
    withdrawal_request: str
    deposit_data: str | None = None  # a deposit_data-*.json file or a directory of them
    verify_signatures: bool = True
    beacon_api_url: str | None = None  # where position.py reads the validators
    beacon: BeaconSnapshot | None = None  # the consensus layer's view, read by position.py
    exit_fee: int | None = None  # EIP-7002's current fee (wei), read by position.py
    exit = "queued"
    exit_wait_s = EXIT_WAIT_S
    yield_source = "rebase"  # the validators' balances grow

    # -- the market's validators ---------------------------------------------------------
    @cached_property
    def validators(self) -> tuple[dd.DepositData, ...]:
        """The deposit data's entries (shapes checked; each is fully checked before deposit)."""
        return tuple(dd.load(self.deposit_data)) if self.deposit_data else ()

    def with_beacon(self, beacon: BeaconSnapshot, exit_fee: int | None = None) -> NativeEthAdapter:
        return dataclasses.replace(self, beacon=beacon, exit_fee=exit_fee)

    def pending(self) -> list[dd.DepositData]:
        """Deposit data entries the beacon state has no validator for yet (all, without a snapshot)."""
        known = {v.pubkey for v in self.beacon.validators} if self.beacon else set()
        return [d for d in self.validators if d.pubkey not in known]

    # -- writes -----------------------------------------------------------------------
    def checked(self, entry: dd.DepositData, account: str) -> dd.DepositData:
        return dd.check(entry, account, self.key.chain_id, signature=self.verify_signatures)

    def deposit_data_calls(self, entries: Sequence[dd.DepositData], account: str) -> list[Call]:
        """Stake `entries` (each checked first): unwrap 32 ETH each, then one deposit each."""
        if not entries:
            raise BadDepositData(f"{self.key}: no deposit data to deposit")
        checked = [self.checked(e, account) for e in entries]
        total = sum(e.amount_wei for e in checked)
        return [
            call(self.asset.address, WETH_WITHDRAW, total),
            *(
                call(
                    self.deposit_contract,
                    DEPOSIT,
                    e.pubkey,
                    e.withdrawal_credentials,
                    e.signature,
                    e.deposit_data_root,
                    value=e.amount_wei,
                )
                for e in checked
            ),
        ]

    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        """`amount` (a multiple of 32 ETH) staked into the next validators of the deposit data."""
        check_amount(amount, f"{self.key} deposit")
        if amount % DEPOSIT_WEI:
            raise WrongDepositAmount(
                f"{self.key}: a deposit of {amount} wei is not a whole number of 32 ETH validators"
            )
        count = amount // DEPOSIT_WEI
        pending = self.pending()
        if len(pending) < count:
            raise BadDepositData(
                f"{self.key}: {count} validators to fund, but the deposit data has {len(pending)} not yet deposited"
            )
        return self.deposit_data_calls(pending[:count], account)

    def exit_calls(self, pubkeys: Sequence[bytes], fee: int, current_fee: int | None = None) -> list[Call]:
        """Full exits of `pubkeys`, each request carrying `fee` wei (the predeploy's current fee,
        read first; refused here if it is known to be higher)."""
        if not pubkeys:
            raise ExitNotPossible(f"{self.key}: no validator to exit")
        known = {d.pubkey for d in self.validators}
        for p in pubkeys:
            if p not in known:
                raise UnknownValidator(f"{self.key}: validator 0x{p.hex()[:16]}.. is not in the deposit data")
            if self.beacon is not None:
                v = self.beacon.of(p)
                if v is None or not v.can_exit:
                    status = v.status if v else "unknown to the beacon node"
                    raise ExitNotPossible(f"{self.key}: validator 0x{p.hex()[:16]}.. cannot exit now ({status})")
        required = self.exit_fee if current_fee is None else current_fee
        if not isinstance(fee, int) or fee < 1 or (required is not None and fee < required):
            raise ExitFeeTooLow(f"{self.key}: an exit fee of {fee} wei is below the predeploy's current fee {required}")
        return [call_raw(self.withdrawal_request, withdrawal_request_data(p, FULL_EXIT), value=fee) for p in pubkeys]

    def withdraw_calls(self, amount: int, account: str) -> list[Call]:
        """Exit enough active validators to cover `amount` (each pays out its whole balance)."""
        check_amount(amount, f"{self.key} withdrawal")
        if self.beacon is None or self.exit_fee is None:
            raise ExitNotPossible(f"{self.key}: exits need the beacon state and the EIP-7002 fee, read first")
        active = [v for v in self.beacon.validators if v.can_exit]
        chosen: list[Validator] = []
        for v in active:
            if sum(c.balance_wei for c in chosen) >= amount:
                break
            chosen.append(v)
        if sum(c.balance_wei for c in chosen) < amount:
            raise ExitNotPossible(f"{self.key}: {amount} wei is more than the active validators hold")
        return self.exit_calls([v.pubkey for v in chosen], self.exit_fee)

    def withdraw_all_calls(self, position: PositionReading, account: str) -> list[Call]:
        """Full exits of every validator that can exit now (active, no exit requested yet)."""
        if self.beacon is None or self.exit_fee is None:
            raise ExitNotPossible(f"{self.key}: exits need the beacon state and the EIP-7002 fee, read first")
        active = [v.pubkey for v in self.beacon.validators if v.can_exit]
        if not active:
            statuses = ", ".join(sorted({v.status for v in self.beacon.validators})) or "none known"
            raise ExitNotPossible(
                f"{self.key}: no validator can exit now ({statuses}): a pending one can once it is active, "
                "an exiting one is on its way to the executor"
            )
        return self.exit_calls(active, self.exit_fee)

    def wrap_calls(self, amount: int) -> list[Call]:
        """Wrap ETH the consensus layer paid the executor (exits, reward sweeps) back to WETH."""
        check_amount(amount, f"{self.key} wrap")
        return [call(self.asset.address, WETH_DEPOSIT, value=amount)]

    def permissions(self) -> PermissionSet:
        # WETH's withdraw pays its caller, deposit wraps what the call carries; the deposit
        # contract's withdrawal_credentials (argument 1, a `bytes`) must pay the executor;
        # each listed validator may be exited (the request's source is the executor, and the
        # consensus layer pays only the validator's withdrawal address).
        # The deposit's deposit_data_root (word 3, which pins the pubkey, the credentials, the
        # signature and the amount) must be a registered validator's, and the deposit contract's
        # root the one the attester vouched for in the same batch (no deposit since it checked).
        # ETH and the principal sent to the deposit contract are valued; an exit's fee too.
        eth, weth = token_asset(ZERO_ADDRESS, "WETH", 18), token_asset(self.asset.address, "WETH", 18)
        validators = deposits_list(self.deposit_contract)
        deposit = Permission(
            self.deposit_contract,
            DEPOSIT,
            (Condition(1, CREDENTIALS), Condition(3, ATTESTED_DEPOSIT, validators)),
            carries_value=True,
            assets=(eth.id, self.principal().id),
        )
        return PermissionSet.union(
            [
                to_self(self.asset.address, WETH_WITHDRAW, assets=[weth, eth]),
                to_self(self.asset.address, WETH_DEPOSIT, carries_value=True, assets=[weth, eth]),
                PermissionSet(
                    rules=(deposit,),
                    members=tuple(Membership(validators, d.deposit_data_root) for d in self.validators),
                    assets=(eth, self.principal()),
                ),
                *(exit_permission(self.withdrawal_request, d.pubkey, eth) for d in self.validators),
            ]
        )

    def principal(self) -> ValuedAsset:
        """The ETH the executor sent to the deposit contract, counted by the executor itself."""
        return ValuedAsset(
            list_id("asset.beacon-deposits", self.deposit_contract), DEPOSITED, "WETH", 18, token=self.deposit_contract
        )

    # -- quotes ------------------------------------------------------------------------
    def quote_reads(self, action: Action, account: str) -> list[ReadCall]:
        match action:
            case Deposit():
                return []
            case Withdraw() | WithdrawAll():
                return [fee_read(self.withdrawal_request)]
        raise TypeError(f"not an action: {action!r}")

    def decode_quote(self, action: Action, results: Sequence[ReadResult]) -> list[Expected]:
        match action:
            case Deposit():
                # The deposit contract takes exactly what is sent; nothing to guard on the
                # executor's side beyond the WETH unwrapped (exact by construction).
                return []
            case Withdraw() | WithdrawAll():
                decode_fee(results[0], str(self.key))
                return []  # the exit pays out later, on the consensus layer
        raise TypeError(f"not an action: {action!r}")

    # -- reads ------------------------------------------------------------------------
    def position_reads(self, account: str) -> list[ReadCall]:
        return [read(MULTICALL3, "getEthBalance(address)", account), read(self.deposit_contract, "get_deposit_count()")]

    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading:
        (eth,) = decode_result(["uint256"], results[0], f"{self.key} Multicall3.getEthBalance")
        decode_result(["bytes"], results[1], f"{self.key} depositContract.get_deposit_count")
        staked = self.beacon.balance_wei if self.beacon is not None else 0
        return PositionReading(amount=staked + eth)

    def liquidity_reads(self, account: str) -> list[ReadCall]:
        return self.position_reads(account)

    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading:
        (eth,) = decode_result(["uint256"], results[0], f"{self.key} Multicall3.getEthBalance")
        position = self.decode_position(results).amount
        return LiquidityReading(
            position=position,
            market_available=eth,
            withdrawable=eth,
            reason="validators leave only by an EIP-7002 exit request, the exit queue and the withdrawal sweep "
            f"(about {self.exit_wait_s // DAY} days)",
        )

    def rate_reads(self) -> list[ReadCall]:
        return [read(self.deposit_contract, "get_deposit_count()")]

    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot:
        """Growth index: the validators' balance per gwei deposited (1e27 = no growth yet)."""
        decode_result(["bytes"], results[0], f"{self.key} depositContract.get_deposit_count")
        vs = [v for v in self.beacon.validators if v.status not in ("withdrawal_done",)] if self.beacon else []
        principal = sum(max(v.effective_balance, 1) for v in vs)
        index = RAY if not vs else sum(v.balance for v in vs) * RAY // principal
        # No quote: the consensus layer's reward rate is no contract's state (it follows the
        # total active balance; the Beacon API's ideal rewards per epoch would give it, not
        # read yet), so the APY is measured from the validators' balances over time.
        note = "measured: consensus rewards have no rate on the execution layer (validators' balance growth)"
        return RateSnapshot(timestamp=timestamp, growth_index=index, note=note)

    def tvl_reads(self) -> list[ReadCall]:
        return [read(MULTICALL3, "getEthBalance(address)", self.deposit_contract)]

    def decode_tvl(self, results: Sequence[ReadResult]) -> int:
        total: int = decode_result(["uint256"], results[0], f"{self.key} Multicall3.getEthBalance(depositContract)")[0]
        return total


def call_raw(target: str, data: bytes, value: int = 0) -> Call:
    """A call whose calldata is not an ABI call (EIP-7002's 56 bytes)."""
    return Call(target=target, value=value, data="0x" + data.hex())


def fee_read(predeploy: str) -> ReadCall:
    """EIP-7002's fee: a call with empty calldata returns it as one 32-byte word."""
    return ReadCall(predeploy, b"")


def decode_fee(result: ReadResult, what: str) -> int:
    fee: int = decode_result(["uint256"], result, f"{what} EIP-7002 fee")[0]
    return fee
