// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title LidoWithdrawalValuer
/// @notice Part of the engine, not a stand-in: the stETH an account's unclaimed Lido withdrawal
///     requests stand for (each request's amountOfStETH, locked at its request), for the
///     FloorExecutor's loss bound: a request burns stETH into an NFT that is not valued by a
///     balance. A claim pays at most that amount (less if the share rate fell before
///     finalisation), so a claim that pays less shows as a loss, as it is.
interface IWithdrawalQueue {
    struct WithdrawalRequestStatus {
        uint256 amountOfStETH;
        uint256 amountOfShares;
        address owner;
        uint256 timestamp;
        bool isFinalized;
        bool isClaimed;
    }

    function getWithdrawalRequests(address owner) external view returns (uint256[] memory);
    function getWithdrawalStatus(uint256[] calldata ids) external view returns (WithdrawalRequestStatus[] memory);
}

contract LidoWithdrawalValuer {
    function pendingOf(address queue, address account) external view returns (uint256 total) {
        uint256[] memory ids = IWithdrawalQueue(queue).getWithdrawalRequests(account);
        if (ids.length == 0) return 0;
        IWithdrawalQueue.WithdrawalRequestStatus[] memory statuses = IWithdrawalQueue(queue).getWithdrawalStatus(ids);
        for (uint256 i = 0; i < statuses.length; ++i) {
            if (!statuses[i].isClaimed) total += statuses[i].amountOfStETH;
        }
    }
}
