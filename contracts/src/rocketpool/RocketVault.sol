// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RocketBase} from "./RocketBase.sol";
import {RocketStorage} from "./RocketStorage.sol";

interface RocketVaultWithdrawerLike {
    function receiveVaultWithdrawalETH() external payable;
}

/// @title RocketVault
/// @notice Local stand-in for Rocket Pool's RocketVault: it holds network contracts' ETH by
/// contract name (the deposit pool's balance is balanceOf("rocketDepositPool")), accepts
/// deposits from and withdraws to registered network contracts only, paying withdrawals
/// through the caller's receiveVaultWithdrawalETH, with the real revert strings.
/// Differs from the real protocol: ERC-20 balances (depositToken, withdrawToken,
/// transferToken, burnToken, balanceOfToken) are not modelled.
contract RocketVault is RocketBase {
    mapping(string => uint256) private etherBalances;

    event EtherDeposited(string indexed by, uint256 amount, uint256 time);
    event EtherWithdrawn(string indexed by, uint256 amount, uint256 time);

    constructor(RocketStorage _rocketStorageAddress) RocketBase(_rocketStorageAddress) {
        version = 1;
    }

    function balanceOf(string memory _networkContractName) external view returns (uint256) {
        return etherBalances[_networkContractName];
    }

    function depositEther() external payable onlyLatestNetworkContract {
        require(msg.value > 0, "No valid amount of ETH given to deposit");
        string memory contractName = getContractName(msg.sender);
        etherBalances[contractName] += msg.value;
        emit EtherDeposited(contractName, msg.value, block.timestamp);
    }

    function withdrawEther(uint256 _amount) external onlyLatestNetworkContract {
        require(_amount > 0, "No valid amount of ETH given to withdraw");
        string memory contractName = getContractName(msg.sender);
        require(etherBalances[contractName] >= _amount, "Insufficient contract ETH balance");
        etherBalances[contractName] -= _amount;
        RocketVaultWithdrawerLike(msg.sender).receiveVaultWithdrawalETH{value: _amount}();
        emit EtherWithdrawn(contractName, _amount, block.timestamp);
    }
}
