// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IERC20Like {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function decimals() external view returns (uint8);
}

/// @title TokenTransfer
/// @notice Token moves that accept both bool-returning and no-return ERC-20s, so the
/// stand-ins also work with tokens like USDT if a test deploys one.
library TokenTransfer {
    error TokenTransferFailed(address token);

    function safeTransfer(address token, address to, uint256 amount) internal {
        _call(token, abi.encodeCall(IERC20Like.transfer, (to, amount)));
    }

    function safeTransferFrom(address token, address from, address to, uint256 amount) internal {
        _call(token, abi.encodeCall(IERC20Like.transferFrom, (from, to, amount)));
    }

    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok) {
            // Bubble the token's own error so tests see e.g. InsufficientAllowance.
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (token.code.length == 0 || (ret.length != 0 && !abi.decode(ret, (bool)))) {
            revert TokenTransferFailed(token);
        }
    }
}
