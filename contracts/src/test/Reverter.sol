// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Reverter
/// @notice Test target for the executor and Multicall3: one call that always fails
/// (to check batch atomicity and error bubbling) and one that succeeds visibly.
contract Reverter {
    event Ok(address indexed caller, uint256 value);

    uint256 public okCount;

    function fail() external pure {
        revert("Reverter: fail");
    }

    /// @dev Payable so tests can also check value forwarding.
    function ok() external payable returns (uint256) {
        okCount += 1;
        emit Ok(msg.sender, msg.value);
        return okCount;
    }
}
