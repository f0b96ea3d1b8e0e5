// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ChainlinkAggregator
/// @notice Local stand-in for a Chainlink price feed: the views of AggregatorV3Interface
/// (smartcontractkit/chainlink, contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol)
/// and the V2 ones (latestAnswer, latestTimestamp, latestRound, getAnswer, getTimestamp), with
/// the storage and answers of the OCR aggregator behind Chainlink's feeds
/// (smartcontractkit/libocr, contract/OffchainAggregator.sol): rounds numbered 1, 2, 3...
/// (uint32 aggregator round ids), each a Transmission {int192 answer; uint64 timestamp};
/// `startedAt` and `updatedAt` are both the round's timestamp and `answeredInRound` is the
/// round id; `version()` is 4; answers outside [minAnswer, maxAnswer] are refused ("median is
/// out of min-max range"). As there, `latestRoundData()` never reverts: before the first round
/// it answers all zeros (readers must treat updatedAt == 0 as no answer); `getRoundData` of a
/// round id above 2**32 - 1 reverts with "No data present", and of an unknown round answers
/// zeros.
/// Instead of the oracles' signed reports, the owner stores rounds: `updateAnswer(answer)`
/// (a round at this block's timestamp, as Chainlink's MockV3Aggregator) or
/// `setAnswer(answer, updatedAt)` (a round stamped with an earlier time, for staleness).
/// Not modelled: OCR's transmit and its signature checks, transmitters, billing and payees,
/// config digests, the requester and validator hooks, read access control, and the
/// EACAggregatorProxy in front of production feeds (its phase ids put the phase in the top
/// 16 bits of the round id; its latestRoundData and decimals answer as the aggregator's, so
/// the engine reads a proxy address the same way).
contract ChainlinkAggregator {
    struct Transmission {
        int192 answer;
        uint64 timestamp;
    }

    string private constant V3_NO_DATA_ERROR = "No data present";
    uint256 public constant version = 4;

    address public immutable owner;
    uint8 public immutable decimals;
    int192 public immutable minAnswer;
    int192 public immutable maxAnswer;
    string public description;

    uint32 internal latestAggregatorRoundId;
    mapping(uint32 => Transmission) internal s_transmissions;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    error NotOwner(address caller);
    error FutureTimestamp(uint256 updatedAt, uint256 blockTimestamp);

    constructor(address owner_, uint8 decimals_, string memory description_, int192 minAnswer_, int192 maxAnswer_) {
        owner = owner_;
        decimals = decimals_;
        description = description_;
        minAnswer = minAnswer_;
        maxAnswer = maxAnswer_;
    }

    // ------------------------------------------------------------------ admin (the stand-in's)

    /// @notice A new round answering `answer`, updated at this block.
    function updateAnswer(int256 answer) external {
        _store(answer, block.timestamp);
    }

    /// @notice A new round answering `answer`, stamped `updatedAt` (not after this block).
    function setAnswer(int256 answer, uint64 updatedAt) external {
        if (updatedAt > block.timestamp) revert FutureTimestamp(updatedAt, block.timestamp);
        _store(answer, updatedAt);
    }

    function _store(int256 answer, uint256 timestamp) internal {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        int192 median = int192(answer);
        require(int256(median) == answer && minAnswer <= median && median <= maxAnswer, "median is out of min-max range");
        uint32 roundId = latestAggregatorRoundId + 1;
        latestAggregatorRoundId = roundId;
        s_transmissions[roundId] = Transmission(median, uint64(timestamp));
        emit NewRound(roundId, address(0), timestamp);
        emit AnswerUpdated(answer, roundId, timestamp);
    }

    // ------------------------------------------------------------------ V3

    function getRoundData(uint80 _roundId)
        public
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        require(_roundId <= 0xFFFFFFFF, V3_NO_DATA_ERROR);
        Transmission memory transmission = s_transmissions[uint32(_roundId)];
        return (_roundId, transmission.answer, transmission.timestamp, transmission.timestamp, _roundId);
    }

    function latestRoundData()
        public
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        roundId = latestAggregatorRoundId;
        // As OffchainAggregator: no revert before the first round (FluxAggregator compatibility).
        Transmission memory transmission = s_transmissions[uint32(roundId)];
        return (roundId, transmission.answer, transmission.timestamp, transmission.timestamp, roundId);
    }

    // ------------------------------------------------------------------ V2

    function latestAnswer() public view returns (int256) {
        return s_transmissions[latestAggregatorRoundId].answer;
    }

    function latestTimestamp() public view returns (uint256) {
        return s_transmissions[latestAggregatorRoundId].timestamp;
    }

    function latestRound() public view returns (uint256) {
        return latestAggregatorRoundId;
    }

    function getAnswer(uint256 _roundId) public view returns (int256) {
        if (_roundId > 0xFFFFFFFF) return 0;
        return s_transmissions[uint32(_roundId)].answer;
    }

    function getTimestamp(uint256 _roundId) public view returns (uint256) {
        if (_roundId > 0xFFFFFFFF) return 0;
        return s_transmissions[uint32(_roundId)].timestamp;
    }
}
