// SPDX-License-Identifier: CC0-1.0
pragma solidity ^0.8.28;

// Stand-in of EIP-7002's withdrawal request predeploy (0x00000961Ef480Eb55e80D19ad83579A64c007002),
// following ethereum/sys-asm src/withdrawals/main.eas (the geas code deployed on mainnet) and
// the EIP's pseudocode: no ABI, only raw calldata.
//  - empty calldata: returns the current fee as 32 bytes (reverts if it carries value);
//  - 56 bytes (48-byte validator pubkey ++ 8-byte big-endian amount in gwei, 0 = full exit):
//    reverts unless msg.value >= fee, then counts the request, queues
//    (caller, pubkey[0:32], pubkey[32:48] ++ amount) in three slots and logs the 76-byte record
//    caller ++ pubkey ++ amount with log0; the fee paid is kept (no refund of any excess);
//  - any other size reverts; every revert carries no data, as the geas code's;
//  - a call from the system address (0xff..fe) dequeues up to 16 requests, returns them as
//    76-byte records (amount little-endian), then updates the excess (excess + count - 2, floor
//    0; the pre-fork inhibitor reads as 0) and resets the count.
// Fee = fake_exponential(1, excess, 17) in wei, with the EIP's fake_exponential; the excess slot
// starts at 0 here (the real contract is deployed with the inhibitor 2**256-1, cleared by the
// fork block's first system call, which anvil never makes). Storage layout is the real one's:
// excess 0, count 1, head 2, tail 3, queue from 4. Left out: nothing of the contract's logic;
// it is Solidity, so its code and gas differ from the geas bytecode.
contract WithdrawalRequestPredeploy {
    address constant SYSTEM_ADDR = 0xffffFFFfFFffffffffffffffFfFFFfffFFFfFFfE;

    uint256 constant SLOT_EXCESS = 0;
    uint256 constant SLOT_COUNT = 1;
    uint256 constant QUEUE_HEAD = 2;
    uint256 constant QUEUE_TAIL = 3;
    uint256 constant QUEUE_OFFSET = 4;

    uint256 constant MIN_FEE = 1;
    uint256 constant TARGET_PER_BLOCK = 2;
    uint256 constant MAX_PER_BLOCK = 16;
    uint256 constant FEE_UPDATE_FRACTION = 17;
    uint256 constant EXCESS_INHIBITOR = type(uint256).max;

    uint256 constant INPUT_SIZE = 56;
    uint256 constant RECORD_SIZE = 76;

    fallback(bytes calldata input) external payable returns (bytes memory) {
        if (msg.sender == SYSTEM_ADDR) return _readRequests();

        uint256 excess = _load(SLOT_EXCESS);
        if (excess == EXCESS_INHIBITOR) _revert();
        uint256 fee = _fakeExponential(MIN_FEE, excess, FEE_UPDATE_FRACTION);

        if (input.length == 0) {
            // The read path: reject any value to prevent lost funds.
            if (msg.value != 0) _revert();
            return abi.encode(fee);
        }
        if (input.length != INPUT_SIZE) _revert();
        if (msg.value < fee) _revert();

        _store(SLOT_COUNT, _load(SLOT_COUNT) + 1);
        uint256 tail = _load(QUEUE_TAIL);
        uint256 slot = QUEUE_OFFSET + tail * 3;
        _store(slot, uint256(uint160(msg.sender)));
        _store(slot + 1, uint256(bytes32(input[0:32])));
        _store(slot + 2, uint256(bytes32(input[32:56])));
        bytes memory record = abi.encodePacked(msg.sender, input);
        assembly {
            log0(add(record, 32), mload(record))
        }
        _store(QUEUE_TAIL, tail + 1);
        return "";
    }

    function _readRequests() internal returns (bytes memory out) {
        uint256 tail = _load(QUEUE_TAIL);
        uint256 head = _load(QUEUE_HEAD);
        uint256 count = tail - head;
        if (count > MAX_PER_BLOCK) count = MAX_PER_BLOCK;
        out = new bytes(count * RECORD_SIZE);
        for (uint256 i = 0; i < count; i++) {
            uint256 slot = QUEUE_OFFSET + (head + i) * 3;
            address source = address(uint160(_load(slot)));
            bytes32 pk1 = bytes32(_load(slot + 1));
            uint256 pk2am = _load(slot + 2);
            bytes16 pk2 = bytes16(bytes32(pk2am));
            uint64 amount = uint64(pk2am >> 64);
            bytes memory record = abi.encodePacked(source, pk1, pk2, _le64(amount));
            for (uint256 j = 0; j < RECORD_SIZE; j++) out[i * RECORD_SIZE + j] = record[j];
        }
        uint256 newHead = head + count;
        if (newHead == tail) {
            _store(QUEUE_HEAD, 0);
            _store(QUEUE_TAIL, 0);
        } else {
            _store(QUEUE_HEAD, newHead);
        }
        uint256 excess = _load(SLOT_EXCESS);
        if (excess == EXCESS_INHIBITOR) excess = 0;
        uint256 requests = _load(SLOT_COUNT);
        uint256 newExcess = 0;
        if (excess + requests > TARGET_PER_BLOCK) newExcess = excess + requests - TARGET_PER_BLOCK;
        _store(SLOT_EXCESS, newExcess);
        _store(SLOT_COUNT, 0);
    }

    function _fakeExponential(uint256 factor, uint256 numerator, uint256 denominator) internal pure returns (uint256) {
        uint256 i = 1;
        uint256 output = 0;
        uint256 accum = factor * denominator;
        while (accum > 0) {
            output += accum;
            accum = (accum * numerator) / (denominator * i);
            i += 1;
        }
        return output / denominator;
    }

    function _le64(uint64 v) internal pure returns (bytes8 r) {
        uint64 x = 0;
        for (uint256 k = 0; k < 8; k++) {
            x = (x << 8) | (v & 0xff);
            v >>= 8;
        }
        r = bytes8(x);
    }

    function _load(uint256 slot) internal view returns (uint256 v) {
        assembly {
            v := sload(slot)
        }
    }

    function _store(uint256 slot, uint256 v) internal {
        assembly {
            sstore(slot, v)
        }
    }

    function _revert() internal pure {
        assembly {
            revert(0, 0)
        }
    }
}
