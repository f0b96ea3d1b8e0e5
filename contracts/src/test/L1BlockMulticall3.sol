// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Multicall3} from "../Multicall3.sol";

/// @title L1BlockMulticall3
/// @notice Multicall3 as on Arbitrum, where `block.number` (and so `getBlockNumber()`) is an
/// L1 block number, far behind the L2's own. Tests install it at the canonical address to
/// check that reads take their block from the node, not from this call.
contract L1BlockMulticall3 is Multicall3 {
    function getBlockNumber() public view override returns (uint256 blockNumber) {
        blockNumber = block.number / 48; // about one L1 block (12 s) per 48 L2 blocks (0.25 s)
    }
}
