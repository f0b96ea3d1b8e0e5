// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title RocketStorage
/// @notice Local stand-in for Rocket Pool's RocketStorage, the eternal key-value store every
/// network contract is found through: getAddress(keccak256(abi.encodePacked("contract.address",
/// name))) is how integrations find rocketDepositPool and rocketTokenRETH. Keys are storage
/// slots (sload/sstore of the key) as in the real contract; writes are open to registered
/// network contracts ("contract.exists" + address), and before setDeployedStatus also to
/// transactions sent by the guardian (tx.origin), with the real revert strings. The guardian
/// moves in two steps (setGuardian, confirmGuardian).
/// Differs from the real protocol: the node withdrawal-address functions
/// (getNodeWithdrawalAddress, setWithdrawalAddress, ...) are not modelled.
contract RocketStorage {
    mapping(bytes32 => string) private stringStorage;
    mapping(bytes32 => bytes) private bytesStorage;

    bool private storageInit = false;
    address private guardian;
    address private newGuardian;

    event GuardianChanged(address oldGuardian, address newGuardian);

    /// @dev Only allow access from the latest version of a contract in the Rocket Pool network after deployment
    modifier onlyLatestRocketNetworkContract() {
        if (storageInit == true) {
            require(
                _getBool(keccak256(abi.encodePacked("contract.exists", msg.sender))),
                "Invalid or outdated network contract"
            );
        } else {
            // Only Dapp and the guardian account are allowed access during initialisation.
            require(
                (_getBool(keccak256(abi.encodePacked("contract.exists", msg.sender))) || tx.origin == guardian),
                "Invalid or outdated network contract attempting access during deployment"
            );
        }
        _;
    }

    constructor() {
        guardian = msg.sender;
    }

    function getGuardian() external view returns (address) {
        return guardian;
    }

    function setGuardian(address _newAddress) external {
        require(msg.sender == guardian, "Is not guardian account");
        newGuardian = _newAddress;
    }

    function confirmGuardian() external {
        require(msg.sender == newGuardian, "Confirmation must come from new guardian");
        address oldGuardian = guardian;
        guardian = newGuardian;
        delete newGuardian;
        emit GuardianChanged(oldGuardian, guardian);
    }

    function getDeployedStatus() external view returns (bool) {
        return storageInit;
    }

    function setDeployedStatus() external {
        require(msg.sender == guardian, "Is not guardian account");
        storageInit = true;
    }

    // ---------------------------------------------------------------- getters

    function getAddress(bytes32 _key) external view returns (address r) {
        assembly {
            r := sload(_key)
        }
    }

    function getUint(bytes32 _key) external view returns (uint256 r) {
        assembly {
            r := sload(_key)
        }
    }

    function getString(bytes32 _key) external view returns (string memory) {
        return stringStorage[_key];
    }

    function getBytes(bytes32 _key) external view returns (bytes memory) {
        return bytesStorage[_key];
    }

    function getBool(bytes32 _key) external view returns (bool r) {
        assembly {
            r := sload(_key)
        }
    }

    function getInt(bytes32 _key) external view returns (int256 r) {
        assembly {
            r := sload(_key)
        }
    }

    function getBytes32(bytes32 _key) external view returns (bytes32 r) {
        assembly {
            r := sload(_key)
        }
    }

    // ---------------------------------------------------------------- setters

    function setAddress(bytes32 _key, address _value) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, _value)
        }
    }

    function setUint(bytes32 _key, uint256 _value) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, _value)
        }
    }

    function setString(bytes32 _key, string calldata _value) external onlyLatestRocketNetworkContract {
        stringStorage[_key] = _value;
    }

    function setBytes(bytes32 _key, bytes calldata _value) external onlyLatestRocketNetworkContract {
        bytesStorage[_key] = _value;
    }

    function setBool(bytes32 _key, bool _value) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, _value)
        }
    }

    function setInt(bytes32 _key, int256 _value) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, _value)
        }
    }

    function setBytes32(bytes32 _key, bytes32 _value) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, _value)
        }
    }

    function deleteAddress(bytes32 _key) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, 0)
        }
    }

    function deleteUint(bytes32 _key) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, 0)
        }
    }

    function deleteString(bytes32 _key) external onlyLatestRocketNetworkContract {
        delete stringStorage[_key];
    }

    function deleteBytes(bytes32 _key) external onlyLatestRocketNetworkContract {
        delete bytesStorage[_key];
    }

    function deleteBool(bytes32 _key) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, 0)
        }
    }

    function deleteInt(bytes32 _key) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, 0)
        }
    }

    function deleteBytes32(bytes32 _key) external onlyLatestRocketNetworkContract {
        assembly {
            sstore(_key, 0)
        }
    }

    function addUint(bytes32 _key, uint256 _amount) external onlyLatestRocketNetworkContract {
        assembly {
            let v := sload(_key)
            v := add(v, _amount)
            sstore(_key, v)
        }
    }

    function subUint(bytes32 _key, uint256 _amount) external onlyLatestRocketNetworkContract {
        assembly {
            let v := sload(_key)
            v := sub(v, _amount)
            sstore(_key, v)
        }
    }

    function _getBool(bytes32 _key) private view returns (bool r) {
        assembly {
            r := sload(_key)
        }
    }
}
