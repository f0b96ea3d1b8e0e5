// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {LidoStETH} from "./LidoStETH.sol";
import {LidoWstETH} from "./LidoWstETH.sol";

/// @title LidoWithdrawalQueueERC721
/// @notice Local stand-in for Lido's WithdrawalQueueERC721 (WithdrawalQueueBase +
/// WithdrawalQueue + WithdrawalQueueERC721 as deployed with Lido v2). The queue itself is the real code:
/// requests as cumulative stETH/shares sums, MIN/MAX_STETH_WITHDRAWAL_AMOUNT (100 wei,
/// 1000 stETH), calculateFinalizationBatches/prefinalize/finalize with max share rate
/// checkpoints, so a request locks min(its own share rate, the finalisation share rate) x its
/// shares; findCheckpointHints, getClaimableEther, claimWithdrawals/claimWithdrawalsTo/
/// claimWithdrawal, getWithdrawalStatus with the real WithdrawalRequestStatus struct, and the
/// real custom errors (RequestAmountTooSmall, RequestAmountTooLarge,
/// RequestNotFoundOrNotFinalized, RequestAlreadyClaimed, NotOwner, InvalidHint,
/// InvalidRequestId, InvalidRequestIdRange, ArraysLengthMismatch, RequestIdsNotSorted,
/// ResumedExpected, ...). Unauthorised role calls revert with OpenZeppelin AccessControl's
/// "AccessControl: account 0x... is missing role 0x..." string.
/// Differs from the real protocol:
/// - Roles are fixed: FINALIZE_ROLE and ORACLE_ROLE belong to the stETH contract (whose
///   oracleReport drives finalisation), PAUSE_ROLE and RESUME_ROLE to the admin; no
///   AccessControlEnumerable management, no proxy or initialize(). Deployed resumed (the real
///   queue starts paused until the DAO resumes it).
/// - Bunker mode is never entered (onOracleReport only records the report timestamp).
/// - ERC-721 is partial: name, symbol, balanceOf, ownerOf, approve, getApproved,
///   setApprovalForAll, isApprovedForAll, transferFrom and supportsInterface behave as the
///   real ones; safeTransferFrom (receiver callback) and tokenURI/base URI/NFT descriptor are
///   not modelled.
/// - No permit variants (requestWithdrawalsWithPermit, requestWithdrawalsWstETHWithPermit).
/// - Plain storage instead of Lido's unstructured storage slots.
contract LidoWithdrawalQueueERC721 {
    /// @notice precision base for share rate
    uint256 internal constant E27_PRECISION_BASE = 1e27;
    uint256 internal constant NOT_FOUND = 0;
    /// @notice maximal length of the batch array provided for prefinalization
    uint256 public constant MAX_BATCHES_LENGTH = 36;
    uint256 public constant MIN_STETH_WITHDRAWAL_AMOUNT = 100;
    uint256 public constant MAX_STETH_WITHDRAWAL_AMOUNT = 1000 * 1e18;
    uint256 public constant BUNKER_MODE_DISABLED_TIMESTAMP = type(uint256).max;
    uint256 public constant PAUSE_INFINITELY = type(uint256).max;

    bytes32 public constant PAUSE_ROLE = keccak256("PAUSE_ROLE");
    bytes32 public constant RESUME_ROLE = keccak256("RESUME_ROLE");
    bytes32 public constant FINALIZE_ROLE = keccak256("FINALIZE_ROLE");
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");

    LidoStETH public immutable STETH;
    LidoWstETH public immutable WSTETH;
    address public immutable admin;

    /// @notice structure representing a request for withdrawal
    struct WithdrawalRequest {
        uint128 cumulativeStETH;
        uint128 cumulativeShares;
        address owner;
        uint40 timestamp;
        bool claimed;
        uint40 reportTimestamp;
    }

    /// @notice structure to store discounts for requests that are affected by negative rebase
    struct Checkpoint {
        uint256 fromRequestId;
        uint256 maxShareRate;
    }

    /// @notice output format struct for `getWithdrawalStatus()` method
    struct WithdrawalRequestStatus {
        uint256 amountOfStETH;
        uint256 amountOfShares;
        address owner;
        uint256 timestamp;
        bool isFinalized;
        bool isClaimed;
    }

    /// @notice transient state passed between `calculateFinalizationBatches` invocations
    struct BatchesCalculationState {
        uint256 remainingEthBudget;
        bool finished;
        uint256[MAX_BATCHES_LENGTH] batches;
        uint256 batchesLength;
    }

    mapping(uint256 => WithdrawalRequest) private queue;
    mapping(uint256 => Checkpoint) private checkpoints;
    uint256 private lastRequestId;
    uint256 private lastFinalizedRequestId;
    uint256 private lastCheckpointIndex;
    uint256 private lockedEtherAmount;
    uint256 private lastReportTimestamp;
    uint256 private resumeSinceTimestamp;

    // requestsByOwner as an enumerable set (OpenZeppelin's EnumerableSet layout)
    mapping(address => uint256[]) private ownerRequests;
    mapping(address => mapping(uint256 => uint256)) private ownerRequestIndex; // index + 1

    mapping(uint256 => address) private tokenApprovals;
    mapping(address => mapping(address => bool)) private operatorApprovals;

    event WithdrawalRequested(
        uint256 indexed requestId,
        address indexed requestor,
        address indexed owner,
        uint256 amountOfStETH,
        uint256 amountOfShares
    );
    event WithdrawalsFinalized(
        uint256 indexed from, uint256 indexed to, uint256 amountOfETHLocked, uint256 sharesToBurn, uint256 timestamp
    );
    event WithdrawalClaimed(
        uint256 indexed requestId, address indexed owner, address indexed receiver, uint256 amountOfETH
    );
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);
    event BatchMetadataUpdate(uint256 _fromTokenId, uint256 _toTokenId);
    event Paused(uint256 duration);
    event Resumed();

    error ZeroAmountOfETH();
    error ZeroShareRate();
    error ZeroTimestamp();
    error TooMuchEtherToFinalize(uint256 sent, uint256 maxExpected);
    error NotOwner(address _sender, address _owner);
    error InvalidRequestId(uint256 _requestId);
    error InvalidRequestIdRange(uint256 startId, uint256 endId);
    error InvalidState();
    error BatchesAreNotSorted();
    error EmptyBatches();
    error RequestNotFoundOrNotFinalized(uint256 _requestId);
    error NotEnoughEther();
    error RequestAlreadyClaimed(uint256 _requestId);
    error InvalidHint(uint256 _hint);
    error CantSendValueRecipientMayHaveReverted();
    error RequestAmountTooSmall(uint256 _amountOfStETH);
    error RequestAmountTooLarge(uint256 _amountOfStETH);
    error InvalidReportTimestamp();
    error RequestIdsNotSorted();
    error ZeroRecipient();
    error ArraysLengthMismatch(uint256 _firstArrayLength, uint256 _secondArrayLength);
    error ApprovalToOwner();
    error ApproveToCaller();
    error NotOwnerOrApprovedForAll(address sender);
    error NotOwnerOrApproved(address sender);
    error TransferFromIncorrectOwner(address from, address realOwner);
    error TransferToZeroAddress();
    error TransferToThemselves();
    error InvalidOwnerAddress(address);
    error ZeroPauseDuration();
    error PausedExpected();
    error ResumedExpected();

    constructor(address _wstETH, address _admin) {
        require(_wstETH != address(0) && _admin != address(0), "ZERO_ADDRESS");
        WSTETH = LidoWstETH(payable(_wstETH));
        STETH = WSTETH.stETH();
        admin = _admin;
        // dummy zero entries: 0 is 'not found' everywhere
        queue[0] = WithdrawalRequest(0, 0, address(0), uint40(block.timestamp), true, 0);
        checkpoints[0] = Checkpoint(0, 0);
    }

    // ---------------------------------------------------------------- ERC-721 metadata

    function name() external pure returns (string memory) {
        return "Lido: stETH Withdrawal NFT";
    }

    function symbol() external pure returns (string memory) {
        return "unstETH";
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x80ac58cd // IERC721
            || interfaceId == 0x5b5e139f // IERC721Metadata
            || interfaceId == 0x49064906 // ERC-4906
            || interfaceId == 0x7965db0b // IAccessControl
            || interfaceId == 0x01ffc9a7; // IERC165
    }

    // ---------------------------------------------------------------- roles and pause

    function hasRole(bytes32 role, address account) public view returns (bool) {
        if (role == FINALIZE_ROLE || role == ORACLE_ROLE) return account == address(STETH);
        if (role == PAUSE_ROLE || role == RESUME_ROLE) return account == admin;
        return false;
    }

    function isPaused() public view returns (bool) {
        return block.timestamp < resumeSinceTimestamp;
    }

    function getResumeSinceTimestamp() external view returns (uint256) {
        return resumeSinceTimestamp;
    }

    function pauseFor(uint256 _duration) external {
        _checkRole(PAUSE_ROLE);
        _checkResumed();
        if (_duration == 0) revert ZeroPauseDuration();
        uint256 resumeSince =
            _duration == PAUSE_INFINITELY ? PAUSE_INFINITELY : block.timestamp + _duration;
        resumeSinceTimestamp = resumeSince;
        emit Paused(_duration);
    }

    function resume() external {
        _checkRole(RESUME_ROLE);
        if (!isPaused()) revert PausedExpected();
        resumeSinceTimestamp = block.timestamp;
        emit Resumed();
    }

    // ---------------------------------------------------------------- queue views

    function getLastRequestId() public view returns (uint256) {
        return lastRequestId;
    }

    function getLastFinalizedRequestId() public view returns (uint256) {
        return lastFinalizedRequestId;
    }

    function getLockedEtherAmount() public view returns (uint256) {
        return lockedEtherAmount;
    }

    function getLastCheckpointIndex() public view returns (uint256) {
        return lastCheckpointIndex;
    }

    function unfinalizedRequestNumber() external view returns (uint256) {
        return lastRequestId - lastFinalizedRequestId;
    }

    function unfinalizedStETH() external view returns (uint256) {
        return queue[lastRequestId].cumulativeStETH - queue[lastFinalizedRequestId].cumulativeStETH;
    }

    function isBunkerModeActive() public pure returns (bool) {
        return false;
    }

    function bunkerModeSinceTimestamp() external pure returns (uint256) {
        return BUNKER_MODE_DISABLED_TIMESTAMP;
    }

    function getWithdrawalRequests(address _owner) external view returns (uint256[] memory requestsIds) {
        return ownerRequests[_owner];
    }

    function getWithdrawalStatus(uint256[] calldata _requestIds)
        external
        view
        returns (WithdrawalRequestStatus[] memory statuses)
    {
        statuses = new WithdrawalRequestStatus[](_requestIds.length);
        for (uint256 i = 0; i < _requestIds.length; ++i) {
            statuses[i] = _getStatus(_requestIds[i]);
        }
    }

    function getClaimableEther(uint256[] calldata _requestIds, uint256[] calldata _hints)
        external
        view
        returns (uint256[] memory claimableEthValues)
    {
        claimableEthValues = new uint256[](_requestIds.length);
        for (uint256 i = 0; i < _requestIds.length; ++i) {
            claimableEthValues[i] = _getClaimableEther(_requestIds[i], _hints[i]);
        }
    }

    function findCheckpointHints(uint256[] calldata _requestIds, uint256 _firstIndex, uint256 _lastIndex)
        external
        view
        returns (uint256[] memory hintIds)
    {
        hintIds = new uint256[](_requestIds.length);
        uint256 prevRequestId = 0;
        for (uint256 i = 0; i < _requestIds.length; ++i) {
            if (_requestIds[i] < prevRequestId) revert RequestIdsNotSorted();
            hintIds[i] = _findCheckpointHint(_requestIds[i], _firstIndex, _lastIndex);
            _firstIndex = hintIds[i];
            prevRequestId = _requestIds[i];
        }
    }

    // ---------------------------------------------------------------- requests

    function requestWithdrawals(uint256[] calldata _amounts, address _owner)
        public
        returns (uint256[] memory requestIds)
    {
        _checkResumed();
        if (_owner == address(0)) _owner = msg.sender;
        requestIds = new uint256[](_amounts.length);
        for (uint256 i = 0; i < _amounts.length; ++i) {
            _checkWithdrawalRequestAmount(_amounts[i]);
            requestIds[i] = _requestWithdrawal(_amounts[i], _owner);
        }
    }

    function requestWithdrawalsWstETH(uint256[] calldata _amounts, address _owner)
        public
        returns (uint256[] memory requestIds)
    {
        _checkResumed();
        if (_owner == address(0)) _owner = msg.sender;
        requestIds = new uint256[](_amounts.length);
        for (uint256 i = 0; i < _amounts.length; ++i) {
            requestIds[i] = _requestWithdrawalWstETH(_amounts[i], _owner);
        }
    }

    // ---------------------------------------------------------------- claims

    function claimWithdrawalsTo(uint256[] calldata _requestIds, uint256[] calldata _hints, address _recipient)
        external
    {
        if (_recipient == address(0)) revert ZeroRecipient();
        if (_requestIds.length != _hints.length) revert ArraysLengthMismatch(_requestIds.length, _hints.length);
        for (uint256 i = 0; i < _requestIds.length; ++i) {
            _claim(_requestIds[i], _hints[i], _recipient);
            emit Transfer(msg.sender, address(0), _requestIds[i]);
        }
    }

    function claimWithdrawals(uint256[] calldata _requestIds, uint256[] calldata _hints) external {
        if (_requestIds.length != _hints.length) revert ArraysLengthMismatch(_requestIds.length, _hints.length);
        for (uint256 i = 0; i < _requestIds.length; ++i) {
            _claim(_requestIds[i], _hints[i], msg.sender);
            emit Transfer(msg.sender, address(0), _requestIds[i]);
        }
    }

    function claimWithdrawal(uint256 _requestId) external {
        _claim(_requestId, _findCheckpointHint(_requestId, 1, lastCheckpointIndex), msg.sender);
        emit Transfer(msg.sender, address(0), _requestId);
    }

    // ---------------------------------------------------------------- finalisation

    /// @notice Offchain view for the oracle (here called by stETH's oracleReport): how many
    /// requests the budget finalises at `_maxShareRate`, split into batches that are all
    /// above or all below that rate.
    function calculateFinalizationBatches(
        uint256 _maxShareRate,
        uint256 _maxTimestamp,
        uint256 _maxRequestsPerCall,
        BatchesCalculationState memory _state
    ) external view returns (BatchesCalculationState memory) {
        if (_state.finished || _state.remainingEthBudget == 0) revert InvalidState();

        uint256 currentId;
        WithdrawalRequest memory prevRequest;
        uint256 prevRequestShareRate;

        if (_state.batchesLength == 0) {
            currentId = lastFinalizedRequestId + 1;
            prevRequest = queue[currentId - 1];
        } else {
            uint256 lastHandledRequestId = _state.batches[_state.batchesLength - 1];
            currentId = lastHandledRequestId + 1;
            prevRequest = queue[lastHandledRequestId];
            (prevRequestShareRate,,) = _calcBatch(queue[lastHandledRequestId - 1], prevRequest);
        }

        uint256 nextCallRequestId = currentId + _maxRequestsPerCall;
        uint256 queueLength = lastRequestId + 1;

        while (currentId < queueLength && currentId < nextCallRequestId) {
            WithdrawalRequest memory request = queue[currentId];

            if (request.timestamp > _maxTimestamp) break; // max timestamp break

            (uint256 requestShareRate, uint256 ethToFinalize, uint256 shares) = _calcBatch(prevRequest, request);

            if (requestShareRate > _maxShareRate) {
                // discounted
                ethToFinalize = (shares * _maxShareRate) / E27_PRECISION_BASE;
            }

            if (ethToFinalize > _state.remainingEthBudget) break; // budget break
            _state.remainingEthBudget -= ethToFinalize;

            if (
                _state.batchesLength != 0
                    && (
                        // requests placed during the same report count as one share rate (1-2 wei rounding)
                        prevRequest.reportTimestamp == request.reportTimestamp
                            || prevRequestShareRate <= _maxShareRate && requestShareRate <= _maxShareRate
                            || prevRequestShareRate > _maxShareRate && requestShareRate > _maxShareRate
                    )
            ) {
                _state.batches[_state.batchesLength - 1] = currentId; // extend the last batch
            } else {
                if (_state.batchesLength == MAX_BATCHES_LENGTH) break;
                _state.batches[_state.batchesLength] = currentId;
                ++_state.batchesLength;
            }

            prevRequestShareRate = requestShareRate;
            prevRequest = request;
            unchecked {
                ++currentId;
            }
        }

        _state.finished = currentId == queueLength || currentId < nextCallRequestId;

        return _state;
    }

    /// @notice ETH to lock and shares to burn for finalising `_batches` at `_maxShareRate`.
    function prefinalize(uint256[] calldata _batches, uint256 _maxShareRate)
        external
        view
        returns (uint256 ethToLock, uint256 sharesToBurn)
    {
        if (_maxShareRate == 0) revert ZeroShareRate();
        if (_batches.length == 0) revert EmptyBatches();

        if (_batches[0] <= lastFinalizedRequestId) revert InvalidRequestId(_batches[0]);
        if (_batches[_batches.length - 1] > lastRequestId) revert InvalidRequestId(_batches[_batches.length - 1]);

        uint256 currentBatchIndex;
        uint256 prevBatchEndRequestId = lastFinalizedRequestId;
        WithdrawalRequest memory prevBatchEnd = queue[prevBatchEndRequestId];
        while (currentBatchIndex < _batches.length) {
            uint256 batchEndRequestId = _batches[currentBatchIndex];
            if (batchEndRequestId <= prevBatchEndRequestId) revert BatchesAreNotSorted();

            WithdrawalRequest memory batchEnd = queue[batchEndRequestId];

            (uint256 batchShareRate, uint256 stETH, uint256 shares) = _calcBatch(prevBatchEnd, batchEnd);

            if (batchShareRate > _maxShareRate) {
                // discounted
                ethToLock += shares * _maxShareRate / E27_PRECISION_BASE;
            } else {
                // nominal
                ethToLock += stETH;
            }
            sharesToBurn += shares;

            prevBatchEndRequestId = batchEndRequestId;
            prevBatchEnd = batchEnd;
            unchecked {
                ++currentBatchIndex;
            }
        }
    }

    /// @notice Finalise requests up to `_lastRequestIdToBeFinalized`, locking msg.value for them.
    function finalize(uint256 _lastRequestIdToBeFinalized, uint256 _maxShareRate) external payable {
        _checkResumed();
        _checkRole(FINALIZE_ROLE);

        uint256 firstFinalizedRequestId = lastFinalizedRequestId + 1;
        _finalize(_lastRequestIdToBeFinalized, msg.value, _maxShareRate);
        emit BatchMetadataUpdate(firstFinalizedRequestId, lastRequestId);
    }

    /// @notice Records the report's timestamp (requests remember the last report before them).
    function onOracleReport(bool _isBunkerModeNow, uint256 _bunkerStartTimestamp, uint256 _currentReportTimestamp)
        external
    {
        _checkRole(ORACLE_ROLE);
        if (_bunkerStartTimestamp >= block.timestamp) revert InvalidReportTimestamp();
        if (_currentReportTimestamp >= block.timestamp) revert InvalidReportTimestamp();
        _isBunkerModeNow; // bunker mode is not modelled
        lastReportTimestamp = _currentReportTimestamp;
    }

    // ---------------------------------------------------------------- ERC-721 ownership

    function balanceOf(address _owner) external view returns (uint256) {
        if (_owner == address(0)) revert InvalidOwnerAddress(_owner);
        return ownerRequests[_owner].length;
    }

    function ownerOf(uint256 _requestId) public view returns (address) {
        if (_requestId == 0 || _requestId > lastRequestId) revert InvalidRequestId(_requestId);
        WithdrawalRequest storage request = queue[_requestId];
        if (request.claimed) revert RequestAlreadyClaimed(_requestId);
        return request.owner;
    }

    function approve(address _to, uint256 _requestId) external {
        address owner = ownerOf(_requestId);
        if (_to == owner) revert ApprovalToOwner();
        if (msg.sender != owner && !isApprovedForAll(owner, msg.sender)) revert NotOwnerOrApprovedForAll(msg.sender);
        tokenApprovals[_requestId] = _to;
        emit Approval(owner, _to, _requestId);
    }

    function getApproved(uint256 _requestId) external view returns (address) {
        if (!_existsAndNotClaimed(_requestId)) revert InvalidRequestId(_requestId);
        return tokenApprovals[_requestId];
    }

    function setApprovalForAll(address _operator, bool _approved) external {
        if (msg.sender == _operator) revert ApproveToCaller();
        operatorApprovals[msg.sender][_operator] = _approved;
        emit ApprovalForAll(msg.sender, _operator, _approved);
    }

    function isApprovedForAll(address _owner, address _operator) public view returns (bool) {
        return operatorApprovals[_owner][_operator];
    }

    function transferFrom(address _from, address _to, uint256 _requestId) external {
        if (_to == address(0)) revert TransferToZeroAddress();
        if (_to == _from) revert TransferToThemselves();
        if (_requestId == 0 || _requestId > lastRequestId) revert InvalidRequestId(_requestId);

        WithdrawalRequest storage request = queue[_requestId];
        if (request.claimed) revert RequestAlreadyClaimed(_requestId);
        if (_from != request.owner) revert TransferFromIncorrectOwner(_from, request.owner);
        if (!(_from == msg.sender || isApprovedForAll(_from, msg.sender) || tokenApprovals[_requestId] == msg.sender)) {
            revert NotOwnerOrApproved(msg.sender);
        }

        delete tokenApprovals[_requestId];
        request.owner = _to;
        assert(_removeOwnerRequest(_from, _requestId));
        assert(_addOwnerRequest(_to, _requestId));
        emit Transfer(_from, _to, _requestId);
    }

    // ---------------------------------------------------------------- internals

    function _requestWithdrawal(uint256 _amountOfStETH, address _owner) private returns (uint256 requestId) {
        STETH.transferFrom(msg.sender, address(this), _amountOfStETH);
        uint256 amountOfShares = STETH.getSharesByPooledEth(_amountOfStETH);
        requestId = _enqueue(uint128(_amountOfStETH), uint128(amountOfShares), _owner);
        emit Transfer(address(0), _owner, requestId);
    }

    function _requestWithdrawalWstETH(uint256 _amountOfWstETH, address _owner) private returns (uint256 requestId) {
        WSTETH.transferFrom(msg.sender, address(this), _amountOfWstETH);
        uint256 amountOfStETH = WSTETH.unwrap(_amountOfWstETH);
        _checkWithdrawalRequestAmount(amountOfStETH);
        uint256 amountOfShares = STETH.getSharesByPooledEth(amountOfStETH);
        requestId = _enqueue(uint128(amountOfStETH), uint128(amountOfShares), _owner);
        emit Transfer(address(0), _owner, requestId);
    }

    function _checkWithdrawalRequestAmount(uint256 _amountOfStETH) private pure {
        if (_amountOfStETH < MIN_STETH_WITHDRAWAL_AMOUNT) revert RequestAmountTooSmall(_amountOfStETH);
        if (_amountOfStETH > MAX_STETH_WITHDRAWAL_AMOUNT) revert RequestAmountTooLarge(_amountOfStETH);
    }

    function _enqueue(uint128 _amountOfStETH, uint128 _amountOfShares, address _owner)
        private
        returns (uint256 requestId)
    {
        WithdrawalRequest memory lastRequest = queue[lastRequestId];
        uint128 cumulativeShares = lastRequest.cumulativeShares + _amountOfShares;
        uint128 cumulativeStETH = lastRequest.cumulativeStETH + _amountOfStETH;

        requestId = lastRequestId + 1;
        lastRequestId = requestId;

        queue[requestId] = WithdrawalRequest(
            cumulativeStETH, cumulativeShares, _owner, uint40(block.timestamp), false, uint40(lastReportTimestamp)
        );
        assert(_addOwnerRequest(_owner, requestId));

        emit WithdrawalRequested(requestId, msg.sender, _owner, _amountOfStETH, _amountOfShares);
    }

    function _finalize(uint256 _lastRequestIdToBeFinalized, uint256 _amountOfETH, uint256 _maxShareRate) private {
        if (_lastRequestIdToBeFinalized > lastRequestId) revert InvalidRequestId(_lastRequestIdToBeFinalized);
        uint256 lastFinalized = lastFinalizedRequestId;
        if (_lastRequestIdToBeFinalized <= lastFinalized) revert InvalidRequestId(_lastRequestIdToBeFinalized);

        WithdrawalRequest memory lastFinalizedRequest = queue[lastFinalized];
        WithdrawalRequest memory requestToFinalize = queue[_lastRequestIdToBeFinalized];

        uint128 stETHToFinalize = requestToFinalize.cumulativeStETH - lastFinalizedRequest.cumulativeStETH;
        if (_amountOfETH > stETHToFinalize) revert TooMuchEtherToFinalize(_amountOfETH, stETHToFinalize);

        uint256 firstRequestIdToFinalize = lastFinalized + 1;

        // add a new checkpoint with current finalization max share rate
        checkpoints[lastCheckpointIndex + 1] = Checkpoint(firstRequestIdToFinalize, _maxShareRate);
        lastCheckpointIndex += 1;

        lockedEtherAmount += _amountOfETH;
        lastFinalizedRequestId = _lastRequestIdToBeFinalized;

        emit WithdrawalsFinalized(
            firstRequestIdToFinalize,
            _lastRequestIdToBeFinalized,
            _amountOfETH,
            requestToFinalize.cumulativeShares - lastFinalizedRequest.cumulativeShares,
            block.timestamp
        );
    }

    function _getStatus(uint256 _requestId) private view returns (WithdrawalRequestStatus memory status) {
        if (_requestId == 0 || _requestId > lastRequestId) revert InvalidRequestId(_requestId);

        WithdrawalRequest memory request = queue[_requestId];
        WithdrawalRequest memory previousRequest = queue[_requestId - 1];

        status = WithdrawalRequestStatus(
            request.cumulativeStETH - previousRequest.cumulativeStETH,
            request.cumulativeShares - previousRequest.cumulativeShares,
            request.owner,
            request.timestamp,
            _requestId <= lastFinalizedRequestId,
            request.claimed
        );
    }

    function _findCheckpointHint(uint256 _requestId, uint256 _start, uint256 _end) private view returns (uint256) {
        if (_requestId == 0 || _requestId > lastRequestId) revert InvalidRequestId(_requestId);

        uint256 lastIndex = lastCheckpointIndex;
        if (_start == 0 || _end > lastIndex) revert InvalidRequestIdRange(_start, _end);

        if (lastIndex == 0 || _requestId > lastFinalizedRequestId || _start > _end) return NOT_FOUND;

        // Right boundary
        if (_requestId >= checkpoints[_end].fromRequestId) {
            // it's the last checkpoint, so it's valid
            if (_end == lastIndex) return _end;
            // it fits right before the next checkpoint
            if (_requestId < checkpoints[_end + 1].fromRequestId) return _end;

            return NOT_FOUND;
        }
        // Left boundary
        if (_requestId < checkpoints[_start].fromRequestId) {
            return NOT_FOUND;
        }

        // Binary search
        uint256 min = _start;
        uint256 max = _end - 1;

        while (max > min) {
            uint256 mid = (max + min + 1) / 2;
            if (checkpoints[mid].fromRequestId <= _requestId) {
                min = mid;
            } else {
                max = mid - 1;
            }
        }
        return min;
    }

    function _claim(uint256 _requestId, uint256 _hint, address _recipient) private {
        if (_requestId == 0) revert InvalidRequestId(_requestId);
        if (_requestId > lastFinalizedRequestId) revert RequestNotFoundOrNotFinalized(_requestId);

        WithdrawalRequest storage request = queue[_requestId];

        if (request.claimed) revert RequestAlreadyClaimed(_requestId);
        if (request.owner != msg.sender) revert NotOwner(msg.sender, request.owner);

        request.claimed = true;
        assert(_removeOwnerRequest(request.owner, _requestId));

        uint256 ethWithDiscount = _calculateClaimableEther(request, _requestId, _hint);
        // stETH rounding leaves 1-2 wei of dust per request locked here, as on mainnet
        lockedEtherAmount -= ethWithDiscount;
        _sendValue(_recipient, ethWithDiscount);

        emit WithdrawalClaimed(_requestId, msg.sender, _recipient, ethWithDiscount);
    }

    function _calculateClaimableEther(WithdrawalRequest storage _request, uint256 _requestId, uint256 _hint)
        private
        view
        returns (uint256 claimableEther)
    {
        if (_hint == 0) revert InvalidHint(_hint);

        uint256 lastIndex = lastCheckpointIndex;
        if (_hint > lastIndex) revert InvalidHint(_hint);

        Checkpoint memory checkpoint = checkpoints[_hint];
        // Reverts if requestId is not in range [checkpoint[hint], checkpoint[hint+1])
        if (_requestId < checkpoint.fromRequestId) revert InvalidHint(_hint);
        if (_hint < lastIndex) {
            Checkpoint memory nextCheckpoint = checkpoints[_hint + 1];
            if (nextCheckpoint.fromRequestId <= _requestId) revert InvalidHint(_hint);
        }

        WithdrawalRequest memory prevRequest = queue[_requestId - 1];
        (uint256 batchShareRate, uint256 eth, uint256 shares) = _calcBatch(prevRequest, _request);

        if (batchShareRate > checkpoint.maxShareRate) {
            eth = shares * checkpoint.maxShareRate / E27_PRECISION_BASE;
        }

        return eth;
    }

    function _getClaimableEther(uint256 _requestId, uint256 _hint) private view returns (uint256) {
        if (_requestId == 0 || _requestId > lastRequestId) revert InvalidRequestId(_requestId);
        if (_requestId > lastFinalizedRequestId) return 0;
        WithdrawalRequest storage request = queue[_requestId];
        if (request.claimed) return 0;
        return _calculateClaimableEther(request, _requestId, _hint);
    }

    function _sendValue(address _recipient, uint256 _amount) private {
        if (address(this).balance < _amount) revert NotEnoughEther();
        (bool success,) = _recipient.call{value: _amount}("");
        if (!success) revert CantSendValueRecipientMayHaveReverted();
    }

    /// @dev batch stats (shareRate, stETH and shares) for the range `(_preStartRequest, _endRequest]`
    function _calcBatch(WithdrawalRequest memory _preStartRequest, WithdrawalRequest memory _endRequest)
        private
        pure
        returns (uint256 shareRate, uint256 stETH, uint256 shares)
    {
        stETH = _endRequest.cumulativeStETH - _preStartRequest.cumulativeStETH;
        shares = _endRequest.cumulativeShares - _preStartRequest.cumulativeShares;
        shareRate = stETH * E27_PRECISION_BASE / shares;
    }

    function _existsAndNotClaimed(uint256 _requestId) private view returns (bool) {
        return _requestId > 0 && _requestId <= lastRequestId && !queue[_requestId].claimed;
    }

    function _checkResumed() private view {
        if (isPaused()) revert ResumedExpected();
    }

    function _checkRole(bytes32 role) private view {
        if (!hasRole(role, msg.sender)) {
            revert(
                string(
                    abi.encodePacked(
                        "AccessControl: account ",
                        _toHexString(uint256(uint160(msg.sender)), 20),
                        " is missing role ",
                        _toHexString(uint256(role), 32)
                    )
                )
            );
        }
    }

    /// @dev OpenZeppelin Strings.toHexString(value, length)
    function _toHexString(uint256 value, uint256 length) private pure returns (string memory) {
        bytes16 symbols = "0123456789abcdef";
        bytes memory buffer = new bytes(2 * length + 2);
        buffer[0] = "0";
        buffer[1] = "x";
        for (uint256 i = 2 * length + 1; i > 1; --i) {
            buffer[i] = symbols[value & 0xf];
            value >>= 4;
        }
        return string(buffer);
    }

    function _addOwnerRequest(address _owner, uint256 _requestId) private returns (bool) {
        if (ownerRequestIndex[_owner][_requestId] != 0) return false;
        ownerRequests[_owner].push(_requestId);
        ownerRequestIndex[_owner][_requestId] = ownerRequests[_owner].length;
        return true;
    }

    /// @dev swap-and-pop, as EnumerableSet.remove (so getWithdrawalRequests' order matches)
    function _removeOwnerRequest(address _owner, uint256 _requestId) private returns (bool) {
        uint256 valueIndex = ownerRequestIndex[_owner][_requestId];
        if (valueIndex == 0) return false;
        uint256[] storage values = ownerRequests[_owner];
        uint256 toDeleteIndex = valueIndex - 1;
        uint256 lastIndex = values.length - 1;
        if (lastIndex != toDeleteIndex) {
            uint256 lastValue = values[lastIndex];
            values[toDeleteIndex] = lastValue;
            ownerRequestIndex[_owner][lastValue] = valueIndex;
        }
        values.pop();
        delete ownerRequestIndex[_owner][_requestId];
        return true;
    }
}
