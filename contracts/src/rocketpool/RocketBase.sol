// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RocketStorage} from "./RocketStorage.sol";

/// @title RocketBase
/// @notice Rocket Pool's RocketBase for the stand-ins: network contracts are found through
/// RocketStorage by name, and the modifiers keep the real revert strings.
abstract contract RocketBase {
    /// @dev Calculate using this as the base
    uint256 internal constant calcBase = 1 ether;

    /// @notice Version of the contract
    uint8 public version;

    RocketStorage internal rocketStorage;

    /// @dev Throws if called by any sender that doesn't match a Rocket Pool network contract
    modifier onlyLatestNetworkContract() {
        require(
            getBool(keccak256(abi.encodePacked("contract.exists", msg.sender))), "Invalid or outdated network contract"
        );
        _;
    }

    /// @dev Throws if called by any sender that doesn't match one of the supplied contract or is the
    /// latest version of that contract
    modifier onlyLatestContract(string memory _contractName, address _contractAddress) {
        require(
            _contractAddress == getAddress(keccak256(abi.encodePacked("contract.address", _contractName))),
            "Invalid or outdated contract"
        );
        _;
    }

    /// @dev Throws if called by any account other than a guardian account (temporary account
    /// allowed access to settings before DAO is fully enabled)
    modifier onlyGuardian() {
        require(msg.sender == rocketStorage.getGuardian(), "Account is not a temporary guardian");
        _;
    }

    constructor(RocketStorage _rocketStorageAddress) {
        rocketStorage = _rocketStorageAddress;
    }

    /// @dev Get the address of a network contract by name
    function getContractAddress(string memory _contractName) internal view returns (address) {
        address contractAddress = getAddress(keccak256(abi.encodePacked("contract.address", _contractName)));
        require(contractAddress != address(0x0), "Contract not found");
        return contractAddress;
    }

    /// @dev Get the name of a network contract by address
    function getContractName(address _contractAddress) internal view returns (string memory) {
        string memory contractName =
            rocketStorage.getString(keccak256(abi.encodePacked("contract.name", _contractAddress)));
        require(bytes(contractName).length > 0, "Contract not found");
        return contractName;
    }

    function getAddress(bytes32 _key) internal view returns (address) {
        return rocketStorage.getAddress(_key);
    }

    function getUint(bytes32 _key) internal view returns (uint256) {
        return rocketStorage.getUint(_key);
    }

    function getBool(bytes32 _key) internal view returns (bool) {
        return rocketStorage.getBool(_key);
    }

    function setUint(bytes32 _key, uint256 _value) internal {
        rocketStorage.setUint(_key, _value);
    }

    function setBool(bytes32 _key, bool _value) internal {
        rocketStorage.setBool(_key, _value);
    }
}
