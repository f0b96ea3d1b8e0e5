// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity 0.8.28;

import {BalancerErrors} from "./BalancerStableMath.sol";
import {BalancerV2Vault} from "./BalancerV2Vault.sol";

interface IBalancerQueryPool {
    function queryJoin(
        bytes32 poolId,
        address sender,
        address recipient,
        uint256[] memory balances,
        uint256 lastChangeBlock,
        uint256 protocolSwapFeePercentage,
        bytes memory userData
    ) external returns (uint256 bptOut, uint256[] memory amountsIn);

    function queryExit(
        bytes32 poolId,
        address sender,
        address recipient,
        uint256[] memory balances,
        uint256 lastChangeBlock,
        uint256 protocolSwapFeePercentage,
        bytes memory userData
    ) external returns (uint256 bptIn, uint256[] memory amountsOut);
}

/// @title BalancerHelpers (stand-in)
/// @notice Follows balancer/balancer-v2-monorepo pkg/standalone-utils/contracts/BalancerHelpers.sol:
/// `queryJoin`/`queryExit(bytes32 poolId, address sender, address recipient, JoinPoolRequest|ExitPoolRequest)`
/// check the request's assets against the Vault's `getPoolTokens` (BAL#103, BAL#520) and ask the pool's
/// own `queryJoin`/`queryExit` with the Vault's balances and last change block: the pool runs its real
/// join/exit code and reverts with the result (BasePool._queryAction), so the quote is what the same
/// `joinPool`/`exitPool` would do in the same state. Not `view` (as the real ones): call them with
/// eth_call. Left out: the protocol fees collector (the protocol swap fee percentage passed is 0, as the
/// stand-in Vault's) and the WETH/ETH asset translation (no ETH sentinel).
contract BalancerHelpers {
    BalancerV2Vault public immutable vault;

    constructor(BalancerV2Vault vault_) {
        vault = vault_;
    }

    function queryJoin(bytes32 poolId, address sender, address recipient, BalancerV2Vault.JoinPoolRequest memory request)
        external
        returns (uint256 bptOut, uint256[] memory amountsIn)
    {
        (address pool,) = vault.getPool(poolId);
        (uint256[] memory balances, uint256 lastChangeBlock) = _validateAssetsAndGetBalances(poolId, request.assets);
        (bptOut, amountsIn) = IBalancerQueryPool(pool).queryJoin(
            poolId, sender, recipient, balances, lastChangeBlock, 0, request.userData
        );
    }

    function queryExit(bytes32 poolId, address sender, address recipient, BalancerV2Vault.ExitPoolRequest memory request)
        external
        returns (uint256 bptIn, uint256[] memory amountsOut)
    {
        (address pool,) = vault.getPool(poolId);
        (uint256[] memory balances, uint256 lastChangeBlock) = _validateAssetsAndGetBalances(poolId, request.assets);
        (bptIn, amountsOut) = IBalancerQueryPool(pool).queryExit(
            poolId, sender, recipient, balances, lastChangeBlock, 0, request.userData
        );
    }

    function _validateAssetsAndGetBalances(bytes32 poolId, address[] memory expectedTokens)
        internal
        view
        returns (uint256[] memory balances, uint256 lastChangeBlock)
    {
        address[] memory actualTokens;
        (actualTokens, balances, lastChangeBlock) = vault.getPoolTokens(poolId);
        BalancerErrors.check(actualTokens.length == expectedTokens.length, BalancerErrors.INPUT_LENGTH_MISMATCH);
        for (uint256 i = 0; i < actualTokens.length; ++i) {
            BalancerErrors.check(actualTokens[i] == expectedTokens[i], BalancerErrors.TOKENS_MISMATCH);
        }
    }
}
