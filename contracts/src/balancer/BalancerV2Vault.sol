// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity 0.8.28;

import {BalancerErrors} from "./BalancerStableMath.sol";

interface IBalancerERC20 {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// The pool side of a join or exit: BasePool's onJoinPool/onExitPool.
interface IBalancerBasePool {
    function onJoinPool(
        bytes32 poolId,
        address sender,
        address recipient,
        uint256[] memory balances,
        uint256 lastChangeBlock,
        uint256 protocolSwapFeePercentage,
        bytes memory userData
    ) external returns (uint256[] memory amountsIn, uint256[] memory dueProtocolFeeAmounts);

    function onExitPool(
        bytes32 poolId,
        address sender,
        address recipient,
        uint256[] memory balances,
        uint256 lastChangeBlock,
        uint256 protocolSwapFeePercentage,
        bytes memory userData
    ) external returns (uint256[] memory amountsOut, uint256[] memory dueProtocolFeeAmounts);
}

/// @title Balancer V2 Vault (stand-in)
/// @notice Follows balancer/balancer-v2-monorepo pkg/vault/contracts/Vault.sol, PoolRegistry.sol,
/// PoolTokens.sol and PoolBalances.sol: `joinPool`/`exitPool(bytes32 poolId, address sender,
/// address recipient, JoinPoolRequest|ExitPoolRequest)` with the real request structs (assets,
/// maxAmountsIn|minAmountsOut, userData, fromInternalBalance|toInternalBalance); the caller must be
/// `sender` (BAL#401 otherwise, as `authenticateFor` without a relayer approval); the assets must be
/// the pool's registered tokens in order (BAL#103 on length, BAL#520 on a token); the pool's
/// `onJoinPool`/`onExitPool` get the registered balances and the last change block, and every
/// amount is checked against its limit (BAL#506 JOIN_ABOVE_MAX, BAL#505 EXIT_BELOW_MIN) as it is
/// pulled from `sender` (transferFrom) or paid to `recipient` (transfer); `getPoolTokens`,
/// `getPool`, `registerPool` (pool ids as `_toPoolId`: address, specialization, nonce) and
/// `registerTokens`; the `PoolBalanceChanged` event.
/// Left out: swaps and batch swaps (and `queryBatchSwap`), internal balances (a request with
/// fromInternalBalance/toInternalBalance set is refused), ETH and the WETH sentinel, relayers and the
/// Authorizer, asset managers (managed balances are always 0), flash loans, protocol fees (the
/// protocol swap fee percentage passed to pools is 0, due protocol fees must be 0), pausing, and
/// Two-Token / Minimal-Swap-Info specializations.
contract BalancerV2Vault {
    enum PoolSpecialization {
        GENERAL,
        MINIMAL_SWAP_INFO,
        TWO_TOKEN
    }

    struct JoinPoolRequest {
        address[] assets;
        uint256[] maxAmountsIn;
        bytes userData;
        bool fromInternalBalance;
    }

    struct ExitPoolRequest {
        address[] assets;
        uint256[] minAmountsOut;
        bytes userData;
        bool toInternalBalance;
    }

    event PoolRegistered(bytes32 indexed poolId, address indexed poolAddress, PoolSpecialization specialization);
    event TokensRegistered(bytes32 indexed poolId, address[] tokens, address[] assetManagers);
    event PoolBalanceChanged(
        bytes32 indexed poolId,
        address indexed liquidityProvider,
        address[] tokens,
        int256[] deltas,
        uint256[] protocolFeeAmounts
    );

    uint256 private _nextPoolNonce;
    mapping(bytes32 => bool) private _isPoolRegistered;
    mapping(bytes32 => address[]) private _poolTokens;
    mapping(bytes32 => mapping(address => uint256)) private _cash;
    mapping(bytes32 => mapping(address => uint256)) private _lastChangeBlock;
    uint256 private _entered;

    modifier nonReentrant() {
        BalancerErrors.check(_entered == 0, BalancerErrors.REENTRANCY);
        _entered = 1;
        _;
        _entered = 0;
    }

    modifier withRegisteredPool(bytes32 poolId) {
        BalancerErrors.check(_isPoolRegistered[poolId], BalancerErrors.INVALID_POOL_ID);
        _;
    }

    // -- registry ------------------------------------------------------------------------

    function registerPool(PoolSpecialization specialization) external nonReentrant returns (bytes32) {
        bytes32 poolId = _toPoolId(msg.sender, specialization, uint80(_nextPoolNonce));
        _isPoolRegistered[poolId] = true;
        _nextPoolNonce += 1;
        emit PoolRegistered(poolId, msg.sender, specialization);
        return poolId;
    }

    function registerTokens(bytes32 poolId, address[] memory tokens, address[] memory assetManagers)
        external
        nonReentrant
        withRegisteredPool(poolId)
    {
        BalancerErrors.check(msg.sender == _getPoolAddress(poolId), BalancerErrors.CALLER_NOT_POOL);
        BalancerErrors.check(tokens.length == assetManagers.length, BalancerErrors.INPUT_LENGTH_MISMATCH);
        BalancerErrors.check(_poolTokens[poolId].length == 0, BalancerErrors.TOKENS_ALREADY_SET);
        for (uint256 i = 0; i < tokens.length; i++) {
            _poolTokens[poolId].push(tokens[i]);
        }
        emit TokensRegistered(poolId, tokens, assetManagers);
    }

    function getPool(bytes32 poolId) external view withRegisteredPool(poolId) returns (address, PoolSpecialization) {
        return (_getPoolAddress(poolId), PoolSpecialization(uint256(poolId >> 80) & (2 ** 16 - 1)));
    }

    function getPoolTokens(bytes32 poolId)
        external
        view
        withRegisteredPool(poolId)
        returns (address[] memory tokens, uint256[] memory balances, uint256 lastChangeBlock)
    {
        tokens = _poolTokens[poolId];
        (balances, lastChangeBlock) = _balancesOf(poolId, tokens);
    }

    // -- joins and exits -----------------------------------------------------------------

    function joinPool(bytes32 poolId, address sender, address recipient, JoinPoolRequest memory request)
        external
        payable
    {
        require(!request.fromInternalBalance, "internal balances are left out of this stand-in");
        _joinOrExit(true, poolId, sender, recipient, request.assets, request.maxAmountsIn, request.userData);
    }

    function exitPool(bytes32 poolId, address sender, address payable recipient, ExitPoolRequest memory request)
        external
    {
        require(!request.toInternalBalance, "internal balances are left out of this stand-in");
        _joinOrExit(false, poolId, sender, recipient, request.assets, request.minAmountsOut, request.userData);
    }

    function _joinOrExit(
        bool isJoin,
        bytes32 poolId,
        address sender,
        address recipient,
        address[] memory assets,
        uint256[] memory limits,
        bytes memory userData
    ) private nonReentrant withRegisteredPool(poolId) {
        // authenticateFor(sender): relayers and the Authorizer are left out, so only `sender` itself.
        BalancerErrors.check(msg.sender == sender, BalancerErrors.SENDER_NOT_ALLOWED);
        BalancerErrors.check(assets.length == limits.length, BalancerErrors.INPUT_LENGTH_MISMATCH);

        address[] memory tokens = _poolTokens[poolId];
        BalancerErrors.check(assets.length == tokens.length, BalancerErrors.INPUT_LENGTH_MISMATCH);
        for (uint256 i = 0; i < tokens.length; i++) {
            BalancerErrors.check(assets[i] == tokens[i], BalancerErrors.TOKENS_MISMATCH);
        }
        (uint256[] memory balances, uint256 lastChangeBlock) = _balancesOf(poolId, tokens);

        address pool = _getPoolAddress(poolId);
        (uint256[] memory amounts, uint256[] memory dueProtocolFeeAmounts) = isJoin
            ? IBalancerBasePool(pool).onJoinPool(poolId, sender, recipient, balances, lastChangeBlock, 0, userData)
            : IBalancerBasePool(pool).onExitPool(poolId, sender, recipient, balances, lastChangeBlock, 0, userData);
        BalancerErrors.check(
            amounts.length == tokens.length && dueProtocolFeeAmounts.length == tokens.length,
            BalancerErrors.INPUT_LENGTH_MISMATCH
        );

        for (uint256 i = 0; i < tokens.length; i++) {
            // Protocol fees are left out: the stand-in's pools owe none.
            BalancerErrors.check(dueProtocolFeeAmounts[i] == 0, BalancerErrors.INPUT_LENGTH_MISMATCH);
        }
        int256[] memory deltas = _settle(isJoin, poolId, sender, recipient, tokens, limits, amounts);
        emit PoolBalanceChanged(poolId, sender, tokens, deltas, dueProtocolFeeAmounts);
    }

    /// _processJoinPoolTransfers / _processExitPoolTransfers: each amount against its limit, then moved.
    function _settle(
        bool isJoin,
        bytes32 poolId,
        address sender,
        address recipient,
        address[] memory tokens,
        uint256[] memory limits,
        uint256[] memory amounts
    ) private returns (int256[] memory deltas) {
        deltas = new int256[](tokens.length);
        for (uint256 i = 0; i < tokens.length; i++) {
            uint256 amount = amounts[i];
            if (isJoin) {
                BalancerErrors.check(amount <= limits[i], BalancerErrors.JOIN_ABOVE_MAX);
                if (amount > 0) {
                    _safeTransferFrom(tokens[i], sender, address(this), amount);
                }
                _cash[poolId][tokens[i]] += amount;
                deltas[i] = int256(amount);
            } else {
                BalancerErrors.check(amount >= limits[i], BalancerErrors.EXIT_BELOW_MIN);
                _cash[poolId][tokens[i]] -= amount;
                if (amount > 0) {
                    _safeTransfer(tokens[i], recipient, amount);
                }
                deltas[i] = -int256(amount);
            }
            _lastChangeBlock[poolId][tokens[i]] = block.number;
        }
    }

    // -- internals -----------------------------------------------------------------------

    function _balancesOf(bytes32 poolId, address[] memory tokens)
        private
        view
        returns (uint256[] memory balances, uint256 lastChangeBlock)
    {
        balances = new uint256[](tokens.length);
        for (uint256 i = 0; i < tokens.length; i++) {
            balances[i] = _cash[poolId][tokens[i]]; // cash + managed; managed is always 0 here
            uint256 changed = _lastChangeBlock[poolId][tokens[i]];
            if (changed > lastChangeBlock) lastChangeBlock = changed;
        }
    }

    function _toPoolId(address pool, PoolSpecialization specialization, uint80 nonce) private pure returns (bytes32) {
        bytes32 serialized;
        serialized |= bytes32(uint256(nonce));
        serialized |= bytes32(uint256(specialization)) << (10 * 8);
        serialized |= bytes32(uint256(uint160(pool))) << (12 * 8);
        return serialized;
    }

    function _getPoolAddress(bytes32 poolId) private pure returns (address) {
        return address(uint160(uint256(poolId) >> (12 * 8)));
    }

    function _safeTransferFrom(address token, address from, address to, uint256 amount) private {
        (bool ok, bytes memory data) =
            token.call(abi.encodeWithSelector(IBalancerERC20.transferFrom.selector, from, to, amount));
        _checkTransfer(ok, data);
    }

    function _safeTransfer(address token, address to, uint256 amount) private {
        (bool ok, bytes memory data) = token.call(abi.encodeWithSelector(IBalancerERC20.transfer.selector, to, amount));
        _checkTransfer(ok, data);
    }

    function _checkTransfer(bool ok, bytes memory data) private pure {
        if (!ok) {
            // Bubble the token's own revert, as SafeERC20's low-level call does.
            assembly {
                revert(add(data, 32), mload(data))
            }
        }
        BalancerErrors.check(data.length == 0 || abi.decode(data, (bool)), 418); // SAFE_ERC20_CALL_FAILED
    }
}
