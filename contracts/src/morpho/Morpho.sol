// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {
    Id,
    MarketParams,
    Position,
    Market,
    IIrm,
    IOracle,
    IMorphoSupplyCallback,
    IMorphoRepayCallback,
    IMorphoSupplyCollateralCallback,
    IMorphoFlashLoanCallback,
    MAX_FEE,
    ORACLE_PRICE_SCALE,
    DOMAIN_TYPEHASH,
    WAD,
    NOT_OWNER,
    MAX_LLTV_EXCEEDED,
    MAX_FEE_EXCEEDED,
    ALREADY_SET,
    IRM_NOT_ENABLED,
    LLTV_NOT_ENABLED,
    MARKET_ALREADY_CREATED,
    MARKET_NOT_CREATED,
    INCONSISTENT_INPUT,
    ZERO_ASSETS,
    ZERO_ADDRESS,
    UNAUTHORIZED,
    INSUFFICIENT_COLLATERAL,
    INSUFFICIENT_LIQUIDITY,
    wMulDown,
    mulDivDown,
    wTaylorCompounded,
    toSharesDown,
    toAssetsDown,
    toSharesUp,
    toAssetsUp,
    exactlyOneZero,
    toUint128,
    zeroFloorSub,
    marketId,
    safeTransfer,
    safeTransferFrom
} from "./MorphoTypes.sol";

/// @title Morpho
/// @notice Local stand-in for the Morpho Blue singleton (v1). It keeps Morpho's ABI, storage
/// layout (so extSloads reads the same slots), revert strings, events and arithmetic for the
/// calls it has: markets keyed by id = keccak256(abi.encode(MarketParams)); supply/withdraw/
/// borrow/repay by assets or by shares (exactly one non-zero) with SharesMathLib's virtual
/// shares (1e6) and assets (1) and Morpho's rounding (supply: shares down or assets up;
/// withdraw: shares up or assets down; borrow: shares up or assets down; repay: shares down or
/// assets up); interest accrued on every interaction as totalBorrowAssets *
/// wTaylorCompounded(irm.borrowRate(marketParams, market), elapsed), added to both totals, with
/// the fee minted as supply shares to feeRecipient; the liquidity check
/// totalBorrowAssets <= totalSupplyAssets; the oracle/LLTV health check on borrow and
/// withdrawCollateral; authorization (setAuthorization, isAuthorized); the owner's enableIrm,
/// enableLltv, setFee, setFeeRecipient, setOwner; callbacks on supply, repay, supplyCollateral;
/// flashLoan. So the engine's Morpho adapter runs unchanged against it.
/// Differs from Morpho Blue in: no liquidate (nothing is ever liquidated, so bad debt is never
/// realised) and no setAuthorizationWithSig; the constructor takes the owner as Morpho's does,
/// but the contract is deployed anywhere, not at Morpho's address.
contract Morpho {
    /* IMMUTABLES */

    bytes32 public immutable DOMAIN_SEPARATOR;

    /* STORAGE (Morpho's order: slots 0 to 8) */

    address public owner;
    address public feeRecipient;
    mapping(Id => mapping(address => Position)) public position;
    mapping(Id => Market) public market;
    mapping(address => bool) public isIrmEnabled;
    mapping(uint256 => bool) public isLltvEnabled;
    mapping(address => mapping(address => bool)) public isAuthorized;
    mapping(address => uint256) public nonce;
    mapping(Id => MarketParams) public idToMarketParams;

    /* EVENTS (EventsLib) */

    event SetOwner(address indexed newOwner);
    event SetFee(Id indexed id, uint256 newFee);
    event SetFeeRecipient(address indexed newFeeRecipient);
    event EnableIrm(address indexed irm);
    event EnableLltv(uint256 lltv);
    event CreateMarket(Id indexed id, MarketParams marketParams);
    event Supply(Id indexed id, address indexed caller, address indexed onBehalf, uint256 assets, uint256 shares);
    event Withdraw(
        Id indexed id,
        address caller,
        address indexed onBehalf,
        address indexed receiver,
        uint256 assets,
        uint256 shares
    );
    event Borrow(
        Id indexed id,
        address caller,
        address indexed onBehalf,
        address indexed receiver,
        uint256 assets,
        uint256 shares
    );
    event Repay(Id indexed id, address indexed caller, address indexed onBehalf, uint256 assets, uint256 shares);
    event SupplyCollateral(Id indexed id, address indexed caller, address indexed onBehalf, uint256 assets);
    event WithdrawCollateral(
        Id indexed id, address caller, address indexed onBehalf, address indexed receiver, uint256 assets
    );
    event FlashLoan(address indexed caller, address indexed token, uint256 assets);
    event SetAuthorization(
        address indexed caller, address indexed authorizer, address indexed authorized, bool newIsAuthorized
    );
    event AccrueInterest(Id indexed id, uint256 prevBorrowRate, uint256 interest, uint256 feeShares);

    /* CONSTRUCTOR */

    constructor(address newOwner) {
        require(newOwner != address(0), ZERO_ADDRESS);

        DOMAIN_SEPARATOR = keccak256(abi.encode(DOMAIN_TYPEHASH, block.chainid, address(this)));
        owner = newOwner;

        emit SetOwner(newOwner);
    }

    /* MODIFIERS */

    modifier onlyOwner() {
        require(msg.sender == owner, NOT_OWNER);
        _;
    }

    /* ONLY OWNER FUNCTIONS */

    function setOwner(address newOwner) external onlyOwner {
        require(newOwner != owner, ALREADY_SET);

        owner = newOwner;

        emit SetOwner(newOwner);
    }

    function enableIrm(address irm) external onlyOwner {
        require(!isIrmEnabled[irm], ALREADY_SET);

        isIrmEnabled[irm] = true;

        emit EnableIrm(irm);
    }

    function enableLltv(uint256 lltv) external onlyOwner {
        require(!isLltvEnabled[lltv], ALREADY_SET);
        require(lltv < WAD, MAX_LLTV_EXCEEDED);

        isLltvEnabled[lltv] = true;

        emit EnableLltv(lltv);
    }

    function setFee(MarketParams memory marketParams, uint256 newFee) external onlyOwner {
        Id id = marketId(marketParams);
        require(market[id].lastUpdate != 0, MARKET_NOT_CREATED);
        require(newFee != market[id].fee, ALREADY_SET);
        require(newFee <= MAX_FEE, MAX_FEE_EXCEEDED);

        // Accrue interest using the previous fee set before changing it.
        _accrueInterest(marketParams, id);

        // Safe "unchecked" cast.
        market[id].fee = uint128(newFee);

        emit SetFee(id, newFee);
    }

    function setFeeRecipient(address newFeeRecipient) external onlyOwner {
        require(newFeeRecipient != feeRecipient, ALREADY_SET);

        feeRecipient = newFeeRecipient;

        emit SetFeeRecipient(newFeeRecipient);
    }

    /* MARKET CREATION */

    function createMarket(MarketParams memory marketParams) external {
        Id id = marketId(marketParams);
        require(isIrmEnabled[marketParams.irm], IRM_NOT_ENABLED);
        require(isLltvEnabled[marketParams.lltv], LLTV_NOT_ENABLED);
        require(market[id].lastUpdate == 0, MARKET_ALREADY_CREATED);

        // Safe "unchecked" cast.
        market[id].lastUpdate = uint128(block.timestamp);
        idToMarketParams[id] = marketParams;

        emit CreateMarket(id, marketParams);

        // Call to initialize the IRM in case it is stateful.
        if (marketParams.irm != address(0)) IIrm(marketParams.irm).borrowRate(marketParams, market[id]);
    }

    /* SUPPLY MANAGEMENT */

    function supply(
        MarketParams memory marketParams,
        uint256 assets,
        uint256 shares,
        address onBehalf,
        bytes calldata data
    ) external returns (uint256, uint256) {
        Id id = marketId(marketParams);
        require(market[id].lastUpdate != 0, MARKET_NOT_CREATED);
        require(exactlyOneZero(assets, shares), INCONSISTENT_INPUT);
        require(onBehalf != address(0), ZERO_ADDRESS);

        _accrueInterest(marketParams, id);

        if (assets > 0) shares = toSharesDown(assets, market[id].totalSupplyAssets, market[id].totalSupplyShares);
        else assets = toAssetsUp(shares, market[id].totalSupplyAssets, market[id].totalSupplyShares);

        position[id][onBehalf].supplyShares += shares;
        market[id].totalSupplyShares += toUint128(shares);
        market[id].totalSupplyAssets += toUint128(assets);

        emit Supply(id, msg.sender, onBehalf, assets, shares);

        if (data.length > 0) IMorphoSupplyCallback(msg.sender).onMorphoSupply(assets, data);

        safeTransferFrom(marketParams.loanToken, msg.sender, address(this), assets);

        return (assets, shares);
    }

    function withdraw(
        MarketParams memory marketParams,
        uint256 assets,
        uint256 shares,
        address onBehalf,
        address receiver
    ) external returns (uint256, uint256) {
        Id id = marketId(marketParams);
        require(market[id].lastUpdate != 0, MARKET_NOT_CREATED);
        require(exactlyOneZero(assets, shares), INCONSISTENT_INPUT);
        require(receiver != address(0), ZERO_ADDRESS);
        // No need to verify that onBehalf != address(0) thanks to the following authorization check.
        require(_isSenderAuthorized(onBehalf), UNAUTHORIZED);

        _accrueInterest(marketParams, id);

        if (assets > 0) shares = toSharesUp(assets, market[id].totalSupplyAssets, market[id].totalSupplyShares);
        else assets = toAssetsDown(shares, market[id].totalSupplyAssets, market[id].totalSupplyShares);

        position[id][onBehalf].supplyShares -= shares;
        market[id].totalSupplyShares -= toUint128(shares);
        market[id].totalSupplyAssets -= toUint128(assets);

        require(market[id].totalBorrowAssets <= market[id].totalSupplyAssets, INSUFFICIENT_LIQUIDITY);

        emit Withdraw(id, msg.sender, onBehalf, receiver, assets, shares);

        safeTransfer(marketParams.loanToken, receiver, assets);

        return (assets, shares);
    }

    /* BORROW MANAGEMENT */

    function borrow(
        MarketParams memory marketParams,
        uint256 assets,
        uint256 shares,
        address onBehalf,
        address receiver
    ) external returns (uint256, uint256) {
        Id id = marketId(marketParams);
        require(market[id].lastUpdate != 0, MARKET_NOT_CREATED);
        require(exactlyOneZero(assets, shares), INCONSISTENT_INPUT);
        require(receiver != address(0), ZERO_ADDRESS);
        // No need to verify that onBehalf != address(0) thanks to the following authorization check.
        require(_isSenderAuthorized(onBehalf), UNAUTHORIZED);

        _accrueInterest(marketParams, id);

        if (assets > 0) shares = toSharesUp(assets, market[id].totalBorrowAssets, market[id].totalBorrowShares);
        else assets = toAssetsDown(shares, market[id].totalBorrowAssets, market[id].totalBorrowShares);

        position[id][onBehalf].borrowShares += toUint128(shares);
        market[id].totalBorrowShares += toUint128(shares);
        market[id].totalBorrowAssets += toUint128(assets);

        require(_isHealthy(marketParams, id, onBehalf), INSUFFICIENT_COLLATERAL);
        require(market[id].totalBorrowAssets <= market[id].totalSupplyAssets, INSUFFICIENT_LIQUIDITY);

        emit Borrow(id, msg.sender, onBehalf, receiver, assets, shares);

        safeTransfer(marketParams.loanToken, receiver, assets);

        return (assets, shares);
    }

    function repay(
        MarketParams memory marketParams,
        uint256 assets,
        uint256 shares,
        address onBehalf,
        bytes calldata data
    ) external returns (uint256, uint256) {
        Id id = marketId(marketParams);
        require(market[id].lastUpdate != 0, MARKET_NOT_CREATED);
        require(exactlyOneZero(assets, shares), INCONSISTENT_INPUT);
        require(onBehalf != address(0), ZERO_ADDRESS);

        _accrueInterest(marketParams, id);

        if (assets > 0) shares = toSharesDown(assets, market[id].totalBorrowAssets, market[id].totalBorrowShares);
        else assets = toAssetsUp(shares, market[id].totalBorrowAssets, market[id].totalBorrowShares);

        position[id][onBehalf].borrowShares -= toUint128(shares);
        market[id].totalBorrowShares -= toUint128(shares);
        market[id].totalBorrowAssets = toUint128(zeroFloorSub(market[id].totalBorrowAssets, assets));

        // `assets` may be greater than `totalBorrowAssets` by 1.
        emit Repay(id, msg.sender, onBehalf, assets, shares);

        if (data.length > 0) IMorphoRepayCallback(msg.sender).onMorphoRepay(assets, data);

        safeTransferFrom(marketParams.loanToken, msg.sender, address(this), assets);

        return (assets, shares);
    }

    /* COLLATERAL MANAGEMENT */

    function supplyCollateral(MarketParams memory marketParams, uint256 assets, address onBehalf, bytes calldata data)
        external
    {
        Id id = marketId(marketParams);
        require(market[id].lastUpdate != 0, MARKET_NOT_CREATED);
        require(assets != 0, ZERO_ASSETS);
        require(onBehalf != address(0), ZERO_ADDRESS);

        // Don't accrue interest because it's not required and it saves gas.

        position[id][onBehalf].collateral += toUint128(assets);

        emit SupplyCollateral(id, msg.sender, onBehalf, assets);

        if (data.length > 0) IMorphoSupplyCollateralCallback(msg.sender).onMorphoSupplyCollateral(assets, data);

        safeTransferFrom(marketParams.collateralToken, msg.sender, address(this), assets);
    }

    function withdrawCollateral(MarketParams memory marketParams, uint256 assets, address onBehalf, address receiver)
        external
    {
        Id id = marketId(marketParams);
        require(market[id].lastUpdate != 0, MARKET_NOT_CREATED);
        require(assets != 0, ZERO_ASSETS);
        require(receiver != address(0), ZERO_ADDRESS);
        // No need to verify that onBehalf != address(0) thanks to the following authorization check.
        require(_isSenderAuthorized(onBehalf), UNAUTHORIZED);

        _accrueInterest(marketParams, id);

        position[id][onBehalf].collateral -= toUint128(assets);

        require(_isHealthy(marketParams, id, onBehalf), INSUFFICIENT_COLLATERAL);

        emit WithdrawCollateral(id, msg.sender, onBehalf, receiver, assets);

        safeTransfer(marketParams.collateralToken, receiver, assets);
    }

    /* FLASH LOANS */

    function flashLoan(address token, uint256 assets, bytes calldata data) external {
        require(assets != 0, ZERO_ASSETS);

        emit FlashLoan(msg.sender, token, assets);

        safeTransfer(token, msg.sender, assets);

        IMorphoFlashLoanCallback(msg.sender).onMorphoFlashLoan(assets, data);

        safeTransferFrom(token, msg.sender, address(this), assets);
    }

    /* AUTHORIZATION */

    function setAuthorization(address authorized, bool newIsAuthorized) external {
        require(newIsAuthorized != isAuthorized[msg.sender][authorized], ALREADY_SET);

        isAuthorized[msg.sender][authorized] = newIsAuthorized;

        emit SetAuthorization(msg.sender, msg.sender, authorized, newIsAuthorized);
    }

    /// @dev Whether the sender may manage `onBehalf`'s positions.
    function _isSenderAuthorized(address onBehalf) internal view returns (bool) {
        return msg.sender == onBehalf || isAuthorized[onBehalf][msg.sender];
    }

    /* INTEREST MANAGEMENT */

    function accrueInterest(MarketParams memory marketParams) external {
        Id id = marketId(marketParams);
        require(market[id].lastUpdate != 0, MARKET_NOT_CREATED);

        _accrueInterest(marketParams, id);
    }

    /// @dev Assumes that `marketParams` and `id` match.
    function _accrueInterest(MarketParams memory marketParams, Id id) internal {
        uint256 elapsed = block.timestamp - market[id].lastUpdate;
        if (elapsed == 0) return;

        if (marketParams.irm != address(0)) {
            uint256 borrowRate = IIrm(marketParams.irm).borrowRate(marketParams, market[id]);
            uint256 interest = wMulDown(market[id].totalBorrowAssets, wTaylorCompounded(borrowRate, elapsed));
            market[id].totalBorrowAssets += toUint128(interest);
            market[id].totalSupplyAssets += toUint128(interest);

            uint256 feeShares;
            if (market[id].fee != 0) {
                uint256 feeAmount = wMulDown(interest, market[id].fee);
                // The fee amount is subtracted from the total supply in this calculation to compensate for the fact
                // that total supply is already increased by the full interest (including the fee amount).
                feeShares = toSharesDown(feeAmount, market[id].totalSupplyAssets - feeAmount, market[id].totalSupplyShares);
                position[id][feeRecipient].supplyShares += feeShares;
                market[id].totalSupplyShares += toUint128(feeShares);
            }

            emit AccrueInterest(id, borrowRate, interest, feeShares);
        }

        // Safe "unchecked" cast.
        market[id].lastUpdate = uint128(block.timestamp);
    }

    /* HEALTH CHECK */

    function _isHealthy(MarketParams memory marketParams, Id id, address borrower) internal view returns (bool) {
        if (position[id][borrower].borrowShares == 0) return true;

        uint256 collateralPrice = IOracle(marketParams.oracle).price();

        return _isHealthy(marketParams, id, borrower, collateralPrice);
    }

    /// @dev Rounds in favor of the protocol, so one might not be able to borrow exactly `maxBorrow` but one unit less.
    function _isHealthy(MarketParams memory marketParams, Id id, address borrower, uint256 collateralPrice)
        internal
        view
        returns (bool)
    {
        uint256 borrowed =
            toAssetsUp(position[id][borrower].borrowShares, market[id].totalBorrowAssets, market[id].totalBorrowShares);
        uint256 maxBorrow =
            wMulDown(mulDivDown(position[id][borrower].collateral, collateralPrice, ORACLE_PRICE_SCALE), marketParams.lltv);

        return maxBorrow >= borrowed;
    }

    /* STORAGE VIEW */

    function extSloads(bytes32[] calldata slots) external view returns (bytes32[] memory res) {
        uint256 nSlots = slots.length;

        res = new bytes32[](nSlots);

        for (uint256 i; i < nSlots;) {
            bytes32 slot = slots[i++];

            assembly ("memory-safe") {
                mstore(add(res, mul(i, 32)), sload(slot))
            }
        }
    }
}
