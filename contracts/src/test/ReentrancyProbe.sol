// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {FloorExecutor} from "../FloorExecutor.sol";

/// @title ReentrancyProbe
/// @notice Set as the executor's operator, with reenter() allowlisted, so that only
/// the executor's reentrancy guard can stop a nested execute().
contract ReentrancyProbe {
    FloorExecutor public immutable executor;

    constructor(address executor_) {
        executor = FloorExecutor(payable(executor_));
    }

    function attack() external {
        FloorExecutor.Call[] memory calls = new FloorExecutor.Call[](1);
        calls[0] = FloorExecutor.Call({target: address(this), value: 0, data: abi.encodeCall(this.reenter, ())});
        executor.execute(calls);
    }

    function reenter() external {
        executor.execute(new FloorExecutor.Call[](0));
    }
}
