// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity 0.8.28;

import {BalancerErrors, BalancerFixedPoint, BalancerStableMath} from "./BalancerStableMath.sol";

interface IBalancerVaultRegistry {
    function registerPool(uint8 specialization) external returns (bytes32);
    function registerTokens(bytes32 poolId, address[] memory tokens, address[] memory assetManagers) external;
    function getPoolTokens(bytes32 poolId)
        external
        view
        returns (address[] memory tokens, uint256[] memory balances, uint256 lastChangeBlock);
}

interface IBalancerTokenDecimals {
    function decimals() external view returns (uint8);
}

/// @title Balancer V2 ComposableStablePool (stand-in)
/// @notice Follows balancer/balancer-v2-monorepo pkg/pool-stable/contracts/ComposableStablePool.sol (v5/v6),
/// pkg/pool-utils/contracts/BasePool.sol and BalancerPoolToken.sol, with the stable math of
/// pkg/pool-stable/contracts/StableMath.sol (BalancerStableMath.sol here):
///   - the pool's own BPT is one of its registered tokens, inserted in address order (`getBptIndex`);
///     2**111 BPT are preminted to the Vault at initialisation, so the supply that counts is the
///     virtual supply (totalSupply less the Vault's BPT balance); `getPoolTokens` lists the BPT,
///     userData amounts and token indices do not;
///   - userData as StablePoolUserData for ComposableStablePool: JoinKind {INIT = 0,
///     EXACT_TOKENS_IN_FOR_BPT_OUT = 1, TOKEN_IN_FOR_EXACT_BPT_OUT = 2, ALL_TOKENS_IN_FOR_EXACT_BPT_OUT = 3},
///     ExitKind {EXACT_BPT_IN_FOR_ONE_TOKEN_OUT = 0, BPT_IN_FOR_EXACT_TOKENS_OUT = 1,
///     EXACT_BPT_IN_FOR_ALL_TOKENS_OUT = 2} (the legacy StablePool's exit kinds 1 and 2 are the other way
///     round);
///   - scaling factors 1e18 * 10**(18 - decimals) (1e18 for the BPT), balances and amounts upscaled with
///     mulDown, amounts in downscaled up and amounts out down (FixedPoint divUp/divDown);
///   - INIT mints the invariant as BPT (1e6 of it locked at address zero, BAL#204 below that);
///     EXACT_TOKENS_IN_FOR_BPT_OUT mints calcBptOutGivenExactTokensIn and enforces the userData's
///     minimumBPT (BAL#208); EXACT_BPT_IN_FOR_ONE_TOKEN_OUT pays calcTokenOutGivenExactBptIn;
///     EXACT_BPT_IN_FOR_ALL_TOKENS_OUT pays computeProportionalAmountsOut; exits burn the sender's BPT
///     (BAL#434); the swap fee is charged on the non-proportional part as StableMath does;
///   - `queryJoin`/`queryExit` as BasePool._queryAction: the pool calls itself with the same calldata,
///     runs the very join or exit code on the Vault's balances, and reverts with the result, which the
///     outer call decodes and returns (so a query changes nothing). The result travels in a custom
///     error `BalancerQueryResult(uint256,uint256[])` instead of the real raw memory layout behind
///     selector 0x43adbafb;
///   - `getRate()` = invariant / actual supply (divDown), the Vault's vault-infinite BPT allowance.
/// Left out: swaps (regular and BPT swaps), the join kinds TOKEN_IN_FOR_EXACT_BPT_OUT and
/// ALL_TOKENS_IN_FOR_EXACT_BPT_OUT and the exit kind BPT_IN_FOR_EXACT_TOKENS_OUT (BAL#310 / BAL#336),
/// protocol fees (swap, yield, AUM: the actual supply is the virtual supply), rate providers and their
/// caches (every token rate is 1), amplification ramps (amp is fixed), recovery mode, pausing, the
/// owner, permit, and the protocol-fee invariant bookkeeping after joins and exits.
contract BalancerComposableStablePool {
    using BalancerFixedPoint for uint256;

    uint256 private constant PREMINTED_TOKEN_BALANCE = 2 ** 111;
    uint256 private constant MINIMUM_BPT_AMOUNT = 1e6;
    uint256 private constant MIN_SWAP_FEE_PERCENTAGE = 1e12; // 0.0001%
    uint256 private constant MAX_SWAP_FEE_PERCENTAGE = 1e17; // 10%

    uint256 private constant JOIN_INIT = 0;
    uint256 private constant JOIN_EXACT_TOKENS_IN_FOR_BPT_OUT = 1;
    uint256 private constant EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT = 0;
    uint256 private constant EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT = 2;

    // -- BalancerPoolToken (ERC-20) ---------------------------------------------------------
    string public name;
    string public symbol;
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) private _allowances;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    error BalancerQueryResult(uint256 bptAmount, uint256[] tokenAmounts);

    address private immutable _vault;
    bytes32 private immutable _poolId;
    uint256 private immutable _bptIndex;
    uint256 private immutable _amp; // A * AMP_PRECISION
    uint256 private immutable _swapFeePercentage;
    address[] private _registeredTokens;
    uint256[] private _scalingFactorsStored;

    constructor(
        address vault,
        string memory name_,
        string memory symbol_,
        address[] memory tokens,
        uint256 amplificationParameter,
        uint256 swapFeePercentage
    ) {
        BalancerErrors.check(tokens.length >= 2, BalancerErrors.MIN_TOKENS);
        BalancerErrors.check(tokens.length <= BalancerStableMath.MAX_STABLE_TOKENS, BalancerErrors.MAX_STABLE_TOKENS);
        for (uint256 i = 1; i < tokens.length; i++) {
            BalancerErrors.check(tokens[i - 1] < tokens[i], BalancerErrors.UNSORTED_ARRAY);
        }
        BalancerErrors.check(amplificationParameter >= BalancerStableMath.MIN_AMP, BalancerErrors.MIN_AMP);
        BalancerErrors.check(amplificationParameter <= BalancerStableMath.MAX_AMP, BalancerErrors.MAX_AMP);
        BalancerErrors.check(swapFeePercentage >= MIN_SWAP_FEE_PERCENTAGE, BalancerErrors.MIN_SWAP_FEE_PERCENTAGE);
        BalancerErrors.check(swapFeePercentage <= MAX_SWAP_FEE_PERCENTAGE, BalancerErrors.MAX_SWAP_FEE_PERCENTAGE);
        name = name_;
        symbol = symbol_;

        // _insertSorted(tokens, IERC20(this))
        uint256 bptIndex = tokens.length;
        for (uint256 i = 0; i < tokens.length; i++) {
            if (address(this) < tokens[i]) {
                bptIndex = i;
                break;
            }
        }
        address[] memory registered = new address[](tokens.length + 1);
        for (uint256 i = 0; i < registered.length; i++) {
            if (i < bptIndex) registered[i] = tokens[i];
            else if (i == bptIndex) registered[i] = address(this);
            else registered[i] = tokens[i - 1];
        }
        for (uint256 i = 0; i < registered.length; i++) {
            _registeredTokens.push(registered[i]);
            if (registered[i] == address(this)) {
                _scalingFactorsStored.push(BalancerFixedPoint.ONE);
            } else {
                uint256 tokenDecimals = IBalancerTokenDecimals(registered[i]).decimals();
                _scalingFactorsStored.push(BalancerFixedPoint.ONE * 10 ** (18 - tokenDecimals));
            }
        }

        bytes32 poolId = IBalancerVaultRegistry(vault).registerPool(0); // GENERAL
        IBalancerVaultRegistry(vault).registerTokens(poolId, registered, new address[](registered.length));
        _vault = vault;
        _poolId = poolId;
        _bptIndex = bptIndex;
        _amp = amplificationParameter * BalancerStableMath.AMP_PRECISION;
        _swapFeePercentage = swapFeePercentage;
    }

    // -- views -----------------------------------------------------------------------------

    function getVault() external view returns (address) {
        return _vault;
    }

    function getPoolId() external view returns (bytes32) {
        return _poolId;
    }

    function getBptIndex() external view returns (uint256) {
        return _bptIndex;
    }

    function getScalingFactors() external view returns (uint256[] memory) {
        return _scalingFactorsStored;
    }

    function getAmplificationParameter() external view returns (uint256 value, bool isUpdating, uint256 precision) {
        return (_amp, false, BalancerStableMath.AMP_PRECISION);
    }

    function getSwapFeePercentage() public view returns (uint256) {
        return _swapFeePercentage;
    }

    function getMinimumBpt() external pure returns (uint256) {
        return MINIMUM_BPT_AMOUNT;
    }

    /// BPT's value in the pool's (upscaled) tokens, 18 decimals: invariant / actual supply, rounded down.
    function getRate() external view returns (uint256) {
        (uint256 virtualSupply, uint256[] memory balances) = _currentSupplyAndBalances();
        uint256 invariant = BalancerStableMath.calculateInvariant(_amp, balances);
        return invariant.divDown(virtualSupply);
    }

    /// The virtual supply (protocol fees, which would add unminted BPT, are left out).
    function getActualSupply() external view returns (uint256) {
        (uint256 virtualSupply,) = _currentSupplyAndBalances();
        return virtualSupply;
    }

    // -- BalancerPoolToken -------------------------------------------------------------------

    /// The Vault may move anyone's BPT (it pulls the preminted BPT at initialisation).
    function allowance(address owner, address spender) public view returns (uint256) {
        return spender == _vault ? type(uint256).max : _allowances[owner][spender];
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _allowances[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 currentAllowance = allowance(from, msg.sender);
        BalancerErrors.check(
            msg.sender == from || currentAllowance >= amount, BalancerErrors.ERC20_TRANSFER_EXCEEDS_ALLOWANCE
        );
        _transfer(from, to, amount);
        if (msg.sender != from && currentAllowance != type(uint256).max) {
            _allowances[from][msg.sender] = currentAllowance - amount;
            emit Approval(from, msg.sender, currentAllowance - amount);
        }
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        BalancerErrors.check(to != address(0), 409); // ERC20_TRANSFER_TO_ZERO_ADDRESS
        uint256 bal = balanceOf[from];
        BalancerErrors.check(bal >= amount, BalancerErrors.ERC20_TRANSFER_EXCEEDS_BALANCE);
        balanceOf[from] = bal - amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }

    function _mintPoolTokens(address to, uint256 amount) private {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _burnPoolTokens(address from, uint256 amount) private {
        uint256 bal = balanceOf[from];
        BalancerErrors.check(bal >= amount, BalancerErrors.ERC20_BURN_EXCEEDS_BALANCE);
        balanceOf[from] = bal - amount;
        totalSupply -= amount;
        emit Transfer(from, address(0), amount);
    }

    // -- Vault hooks (BasePool) -----------------------------------------------------------

    modifier onlyVault(bytes32 poolId) {
        BalancerErrors.check(msg.sender == _vault, BalancerErrors.CALLER_NOT_VAULT);
        BalancerErrors.check(poolId == _poolId, BalancerErrors.INVALID_POOL_ID);
        _;
    }

    function onJoinPool(
        bytes32 poolId,
        address sender,
        address recipient,
        uint256[] memory balances,
        uint256, /* lastChangeBlock */
        uint256, /* protocolSwapFeePercentage */
        bytes memory userData
    ) external onlyVault(poolId) returns (uint256[] memory, uint256[] memory) {
        uint256[] memory scalingFactors = _scalingFactorsStored;
        if (totalSupply == 0) {
            (uint256 bptAmountOut, uint256[] memory amountsIn) = _onInitializePool(sender, scalingFactors, userData);
            BalancerErrors.check(bptAmountOut >= MINIMUM_BPT_AMOUNT, BalancerErrors.MINIMUM_BPT);
            _mintPoolTokens(address(0), MINIMUM_BPT_AMOUNT);
            _mintPoolTokens(recipient, bptAmountOut - MINIMUM_BPT_AMOUNT);
            _downscaleUpArray(amountsIn, scalingFactors);
            return (amountsIn, new uint256[](balances.length));
        }
        _upscaleArray(balances, scalingFactors);
        (uint256 bptOut, uint256[] memory amounts) = _onJoinExitPool(true, balances, scalingFactors, userData);
        _mintPoolTokens(recipient, bptOut);
        _downscaleUpArray(amounts, scalingFactors); // amounts entering the pool round up
        return (amounts, new uint256[](balances.length));
    }

    function onExitPool(
        bytes32 poolId,
        address sender,
        address, /* recipient */
        uint256[] memory balances,
        uint256, /* lastChangeBlock */
        uint256, /* protocolSwapFeePercentage */
        bytes memory userData
    ) external onlyVault(poolId) returns (uint256[] memory, uint256[] memory) {
        BalancerErrors.check(totalSupply > 0, BalancerErrors.UNINITIALIZED);
        uint256[] memory scalingFactors = _scalingFactorsStored;
        _upscaleArray(balances, scalingFactors);
        (uint256 bptIn, uint256[] memory amounts) = _onJoinExitPool(false, balances, scalingFactors, userData);
        _downscaleDownArray(amounts, scalingFactors); // amounts leaving the pool round down
        _burnPoolTokens(sender, bptIn);
        return (amounts, new uint256[](balances.length));
    }

    // -- queries (BasePool.queryJoin / queryExit) ------------------------------------------

    function queryJoin(
        bytes32, /* poolId */
        address, /* sender */
        address, /* recipient */
        uint256[] memory balances,
        uint256, /* lastChangeBlock */
        uint256, /* protocolSwapFeePercentage */
        bytes memory userData
    ) external returns (uint256 bptOut, uint256[] memory amountsIn) {
        BalancerErrors.check(balances.length == _registeredTokens.length, BalancerErrors.INPUT_LENGTH_MISMATCH);
        return _queryAction(true, balances, userData);
    }

    function queryExit(
        bytes32, /* poolId */
        address, /* sender */
        address, /* recipient */
        uint256[] memory balances,
        uint256, /* lastChangeBlock */
        uint256, /* protocolSwapFeePercentage */
        bytes memory userData
    ) external returns (uint256 bptIn, uint256[] memory amountsOut) {
        BalancerErrors.check(balances.length == _registeredTokens.length, BalancerErrors.INPUT_LENGTH_MISMATCH);
        return _queryAction(false, balances, userData);
    }

    function _queryAction(bool isJoin, uint256[] memory balances, bytes memory userData)
        private
        returns (uint256, uint256[] memory)
    {
        if (msg.sender != address(this)) {
            // Call ourselves with the same calldata: the inner call runs the join or exit and reverts
            // with its result, so nothing it did remains.
            (bool success, bytes memory data) = address(this).call(msg.data);
            require(!success, "query did not revert");
            if (data.length < 4 || bytes4(data) != BalancerQueryResult.selector) {
                assembly {
                    revert(add(data, 32), mload(data))
                }
            }
            bytes memory payload;
            assembly {
                payload := add(data, 4)
                mstore(payload, sub(mload(data), 4))
            }
            return abi.decode(payload, (uint256, uint256[]));
        }
        BalancerErrors.check(totalSupply > 0, BalancerErrors.UNINITIALIZED);
        uint256[] memory scalingFactors = _scalingFactorsStored;
        _upscaleArray(balances, scalingFactors);
        (uint256 bptAmount, uint256[] memory amounts) = _onJoinExitPool(isJoin, balances, scalingFactors, userData);
        if (isJoin) _downscaleUpArray(amounts, scalingFactors);
        else _downscaleDownArray(amounts, scalingFactors);
        revert BalancerQueryResult(bptAmount, amounts);
    }

    // -- joins and exits (ComposableStablePool) ---------------------------------------------

    function _onInitializePool(address sender, uint256[] memory scalingFactors, bytes memory userData)
        private
        returns (uint256, uint256[] memory)
    {
        BalancerErrors.check(_kind(userData) == JOIN_INIT, BalancerErrors.UNINITIALIZED);
        (, uint256[] memory amountsInIncludingBpt) = abi.decode(userData, (uint256, uint256[]));
        BalancerErrors.check(
            amountsInIncludingBpt.length == scalingFactors.length, BalancerErrors.INPUT_LENGTH_MISMATCH
        );
        _upscaleArray(amountsInIncludingBpt, scalingFactors);
        uint256[] memory amountsIn = _dropBptItem(amountsInIncludingBpt);
        uint256 invariantAfterJoin = BalancerStableMath.calculateInvariant(_amp, amountsIn);
        uint256 bptAmountOut = invariantAfterJoin;
        uint256 initialBpt = PREMINTED_TOKEN_BALANCE - bptAmountOut;
        _mintPoolTokens(sender, initialBpt);
        amountsInIncludingBpt[_bptIndex] = initialBpt;
        return (bptAmountOut, amountsInIncludingBpt);
    }

    /// `registeredBalances` upscaled; returns the BPT amount and the token amounts (upscaled, BPT's 0).
    function _onJoinExitPool(
        bool isJoin,
        uint256[] memory registeredBalances,
        uint256[] memory scalingFactors,
        bytes memory userData
    ) private view returns (uint256, uint256[] memory) {
        // _beforeJoinExit: with no protocol fees the pre-join supply is the virtual supply.
        uint256 preJoinExitSupply = totalSupply - registeredBalances[_bptIndex];
        uint256[] memory balances = _dropBptItem(registeredBalances);
        uint256 preJoinExitInvariant = BalancerStableMath.calculateInvariant(_amp, balances);

        (uint256 bptAmount, uint256[] memory amountsDelta) = isJoin
            ? _doJoin(balances, preJoinExitSupply, preJoinExitInvariant, scalingFactors, userData)
            : _doExit(balances, preJoinExitSupply, preJoinExitInvariant, userData);
        return (bptAmount, _addBptItem(amountsDelta, 0));
    }

    function _doJoin(
        uint256[] memory balances,
        uint256 actualSupply,
        uint256 preJoinExitInvariant,
        uint256[] memory scalingFactors,
        bytes memory userData
    ) private view returns (uint256, uint256[] memory) {
        uint256 kind = _kind(userData);
        if (kind != JOIN_EXACT_TOKENS_IN_FOR_BPT_OUT) {
            BalancerErrors.fail(BalancerErrors.UNHANDLED_JOIN_KIND);
        }
        (, uint256[] memory amountsIn, uint256 minBPTAmountOut) = abi.decode(userData, (uint256, uint256[], uint256));
        BalancerErrors.check(balances.length == amountsIn.length, BalancerErrors.INPUT_LENGTH_MISMATCH);
        _upscaleArray(amountsIn, _dropBptItem(scalingFactors));
        uint256 bptAmountOut = BalancerStableMath.calcBptOutGivenExactTokensIn(
            _amp, balances, amountsIn, actualSupply, preJoinExitInvariant, getSwapFeePercentage()
        );
        BalancerErrors.check(bptAmountOut >= minBPTAmountOut, BalancerErrors.BPT_OUT_MIN_AMOUNT);
        return (bptAmountOut, amountsIn);
    }

    function _doExit(
        uint256[] memory balances,
        uint256 actualSupply,
        uint256 preJoinExitInvariant,
        bytes memory userData
    ) private view returns (uint256, uint256[] memory) {
        uint256 kind = _kind(userData);
        if (kind == EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT) {
            (, uint256 bptIn) = abi.decode(userData, (uint256, uint256));
            return (bptIn, BalancerStableMath.computeProportionalAmountsOut(balances, actualSupply, bptIn));
        }
        if (kind != EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT) {
            BalancerErrors.fail(BalancerErrors.UNHANDLED_EXIT_KIND);
        }
        // The token index is the user's: it does not count the BPT.
        (, uint256 bptAmountIn, uint256 tokenIndex) = abi.decode(userData, (uint256, uint256, uint256));
        BalancerErrors.check(tokenIndex < balances.length, BalancerErrors.OUT_OF_BOUNDS);
        uint256[] memory amountsOut = new uint256[](balances.length);
        amountsOut[tokenIndex] = BalancerStableMath.calcTokenOutGivenExactBptIn(
            _amp, balances, tokenIndex, bptAmountIn, actualSupply, preJoinExitInvariant, getSwapFeePercentage()
        );
        return (bptAmountIn, amountsOut);
    }

    // -- helpers ---------------------------------------------------------------------------

    function _kind(bytes memory userData) private pure returns (uint256) {
        return abi.decode(userData, (uint256));
    }

    function _currentSupplyAndBalances() private view returns (uint256 virtualSupply, uint256[] memory balances) {
        (, uint256[] memory registeredBalances,) = IBalancerVaultRegistry(_vault).getPoolTokens(_poolId);
        _upscaleArray(registeredBalances, _scalingFactorsStored);
        virtualSupply = totalSupply - registeredBalances[_bptIndex];
        balances = _dropBptItem(registeredBalances);
    }

    function _dropBptItem(uint256[] memory amounts) private view returns (uint256[] memory out) {
        out = new uint256[](amounts.length - 1);
        for (uint256 i = 0; i < out.length; i++) {
            out[i] = amounts[i < _bptIndex ? i : i + 1];
        }
    }

    function _addBptItem(uint256[] memory amounts, uint256 bptAmount) private view returns (uint256[] memory out) {
        out = new uint256[](amounts.length + 1);
        for (uint256 i = 0; i < out.length; i++) {
            out[i] = i == _bptIndex ? bptAmount : amounts[i < _bptIndex ? i : i - 1];
        }
    }

    function _upscaleArray(uint256[] memory amounts, uint256[] memory scalingFactors) private pure {
        for (uint256 i = 0; i < amounts.length; i++) {
            amounts[i] = BalancerFixedPoint.mulDown(amounts[i], scalingFactors[i]);
        }
    }

    function _downscaleUpArray(uint256[] memory amounts, uint256[] memory scalingFactors) private pure {
        for (uint256 i = 0; i < amounts.length; i++) {
            amounts[i] = BalancerFixedPoint.divUp(amounts[i], scalingFactors[i]);
        }
    }

    function _downscaleDownArray(uint256[] memory amounts, uint256[] memory scalingFactors) private pure {
        for (uint256 i = 0; i < amounts.length; i++) {
            amounts[i] = BalancerFixedPoint.divDown(amounts[i], scalingFactors[i]);
        }
    }
}
