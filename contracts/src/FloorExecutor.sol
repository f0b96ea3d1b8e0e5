// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title FloorExecutor
/// @notice Holds the treasury's funds and runs the engine's batched calls.
/// The owner (treasury multisig) decides which (target, selector) pairs may be
/// called; the operator (the engine's hot key) can only run batches made of
/// those pairs, so a leaked operator key cannot move funds anywhere new.
contract FloorExecutor {
    struct Call {
        address target;
        uint256 value;
        bytes data;
    }

    address public owner;
    address public operator;
    bool public paused;
    mapping(address target => mapping(bytes4 selector => bool)) public isAllowed;

    uint256 private _lock = 1;

    event CallExecuted(uint256 indexed index, address indexed target, bytes4 selector, uint256 value);
    event OperatorChanged(address indexed previous, address indexed next);
    event AllowlistChanged(address indexed target, bytes4 indexed selector, bool allowed);
    event Paused(address indexed by);
    event Unpaused(address indexed by);
    event OwnershipTransferred(address indexed previous, address indexed next);

    error NotOwner(address caller);
    error NotOperator(address caller);
    // Named apart from the Paused event: Solidity forbids sharing the identifier.
    error ExecutorPaused();
    error Reentrancy();
    error ZeroAddress();
    error LengthMismatch(uint256 targets, uint256 selectors);
    error CallNotAllowed(uint256 index, address target, bytes4 selector);
    error CallFailed(uint256 index, bytes reason);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor(address owner_, address operator_) {
        if (owner_ == address(0) || operator_ == address(0)) revert ZeroAddress();
        owner = owner_;
        operator = operator_;
        emit OwnershipTransferred(address(0), owner_);
        emit OperatorChanged(address(0), operator_);
    }

    receive() external payable {}

    /// @notice Runs every call in order; any failure reverts the whole batch so the
    /// engine never leaves a half-applied rebalance on chain.
    function execute(Call[] calldata calls) external payable returns (bytes[] memory results) {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        if (paused) revert ExecutorPaused();
        // A plain flag is enough: a target calling back in must not start a second batch.
        if (_lock != 1) revert Reentrancy();
        _lock = 2;

        uint256 n = calls.length;
        results = new bytes[](n);
        for (uint256 i = 0; i < n; ++i) {
            Call calldata c = calls[i];
            bytes4 selector = c.data.length >= 4 ? bytes4(c.data[:4]) : bytes4(0);
            if (!isAllowed[c.target][selector]) revert CallNotAllowed(i, c.target, selector);
            (bool ok, bytes memory ret) = c.target.call{value: c.value}(c.data);
            if (!ok) revert CallFailed(i, ret);
            results[i] = ret;
            emit CallExecuted(i, c.target, selector, c.value);
        }

        _lock = 1;
    }

    function setOperator(address next) external onlyOwner {
        if (next == address(0)) revert ZeroAddress();
        emit OperatorChanged(operator, next);
        operator = next;
    }

    function setAllowed(address target, bytes4 selector, bool allowed) external onlyOwner {
        _setAllowed(target, selector, allowed);
    }

    function setAllowedBatch(address[] calldata targets, bytes4[] calldata selectors, bool allowed)
        external
        onlyOwner
    {
        if (targets.length != selectors.length) revert LengthMismatch(targets.length, selectors.length);
        for (uint256 i = 0; i < targets.length; ++i) {
            _setAllowed(targets[i], selectors[i], allowed);
        }
    }

    function pause() external onlyOwner {
        paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyOwner {
        paused = false;
        emit Unpaused(msg.sender);
    }

    function transferOwnership(address next) external onlyOwner {
        if (next == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, next);
        owner = next;
    }

    function _setAllowed(address target, bytes4 selector, bool allowed) private {
        if (target == address(0)) revert ZeroAddress();
        isAllowed[target][selector] = allowed;
        emit AllowlistChanged(target, selector, allowed);
    }
}
