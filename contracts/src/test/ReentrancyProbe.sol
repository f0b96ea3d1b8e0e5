// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// The executor's batch entry point, as the probe calls it (the executor itself is Vyper).
interface IFloorExecutor {
    struct Call {
        address target;
        uint256 value;
        bytes data;
    }

    function execute(Call[] calldata calls) external payable returns (bytes[] memory results);
}

/// @title ReentrancyProbe
/// @notice Set as the executor's operator, with reenter() allowlisted, so that only
/// the executor's reentrancy guard can stop a nested execute().
contract ReentrancyProbe {
    IFloorExecutor public immutable executor;

    constructor(address executor_) {
        executor = IFloorExecutor(executor_);
    }

    function attack() external {
        IFloorExecutor.Call[] memory calls = new IFloorExecutor.Call[](1);
        calls[0] = IFloorExecutor.Call({target: address(this), value: 0, data: abi.encodeCall(this.reenter, ())});
        executor.execute(calls);
    }

    function reenter() external {
        executor.execute(new IFloorExecutor.Call[](0));
    }
}
