// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RocketBase} from "./RocketBase.sol";
import {RocketStorage} from "./RocketStorage.sol";

/// @title RocketNetworkBalances
/// @notice Local stand-in for Rocket Pool's RocketNetworkBalances (Houston): the network's
/// total ETH, staking ETH and rETH supply as of a reported block, kept in RocketStorage under
/// the real keys. rETH's exchange rate is totalETH / rETH supply from here, so it moves only
/// when balances are submitted, as on mainnet. submitBalances has the real signature, block
/// checks and revert strings.
/// Differs from the real protocol: a submission from the RocketStorage guardian is consensus
/// at once (mainnet needs a threshold of oDAO members' identical submissions), so the
/// revert for anyone else is onlyTrustedNode's "Invalid trusted node"; there is no
/// submitBalancesEnabled setting and no executeUpdateBalances.
contract RocketNetworkBalances is RocketBase {
    event BalancesSubmitted(
        address indexed from,
        uint256 block,
        uint256 slotTimestamp,
        uint256 totalEth,
        uint256 stakingEth,
        uint256 rethSupply,
        uint256 blockTimestamp
    );
    event BalancesUpdated(
        uint256 indexed block,
        uint256 slotTimestamp,
        uint256 totalEth,
        uint256 stakingEth,
        uint256 rethSupply,
        uint256 blockTimestamp
    );

    constructor(RocketStorage _rocketStorageAddress) RocketBase(_rocketStorageAddress) {
        version = 3;
    }

    /// @notice The block number which balances are current for
    function getBalancesBlock() public view returns (uint256) {
        return getUint(keccak256("network.balances.updated.block"));
    }

    /// @notice The current RP network total ETH balance
    function getTotalETHBalance() public view returns (uint256) {
        return getUint(keccak256("network.balance.total"));
    }

    /// @notice The current RP network staking ETH balance
    function getStakingETHBalance() public view returns (uint256) {
        return getUint(keccak256("network.balance.staking"));
    }

    /// @notice The current RP network total rETH supply
    function getTotalRETHSupply() external view returns (uint256) {
        return getUint(keccak256("network.balance.reth.supply"));
    }

    /// @notice The current RP network ETH utilization rate as a fraction of 1 ETH
    function getETHUtilizationRate() external view returns (uint256) {
        uint256 totalEthBalance = getTotalETHBalance();
        uint256 stakingEthBalance = getStakingETHBalance();
        if (totalEthBalance == 0) return calcBase;
        return calcBase * stakingEthBalance / totalEthBalance;
    }

    /// @notice Submit network balances for a block (the stand-in's oDAO is the guardian).
    function submitBalances(
        uint256 _block,
        uint256 _slotTimestamp,
        uint256 _totalEth,
        uint256 _stakingEth,
        uint256 _rethSupply
    ) external onlyLatestContract("rocketNetworkBalances", address(this)) {
        require(msg.sender == rocketStorage.getGuardian(), "Invalid trusted node");
        require(_block < block.number, "Balances can not be submitted for a future block");
        uint256 lastBalancesBlock = getBalancesBlock();
        require(_block >= lastBalancesBlock, "Network balances for a higher block are set");
        emit BalancesSubmitted(
            msg.sender, _block, _slotTimestamp, _totalEth, _stakingEth, _rethSupply, block.timestamp
        );
        // If voting past consensus, return
        if (_block == lastBalancesBlock) return;
        setUint(keccak256("network.balances.updated.block"), _block);
        setUint(keccak256("network.balance.total"), _totalEth);
        setUint(keccak256("network.balance.staking"), _stakingEth);
        setUint(keccak256("network.balance.reth.supply"), _rethSupply);
        emit BalancesUpdated(_block, _slotTimestamp, _totalEth, _stakingEth, _rethSupply, block.timestamp);
    }
}
