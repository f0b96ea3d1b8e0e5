"""The pure code between a verified command and the engine's requests: the founding book, the
signer's name, a verified operation mapped onto the request the engine acts on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from floor.access.commands import CommandDomain, UsedNonces, sign_command, verify
from floor.access.roles import Role
from floor.doors import CATALOGUE
from floor.engine import EngineMemory, EnginePolicy, Operation
from floor.operations import (
    AllocateRequest,
    CapitalRequest,
    Catalogue,
    EngineAccess,
    HarvestRequest,
    founded_book,
    request_of,
    signer_name,
)

ADMIN = Account.from_key(keccak(text="unit-admin"))
SCHEDULER = Account.from_key(keccak(text="unit-scheduler"))
DOMAIN = CommandDomain(chain_id=1, executor="0x5FbDB2315678afecb367f032d93F642f64180aa3", engine="engine-floor")
NOW = 1_800_000_000
TREASURY = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


def access(scheduler: str | None = SCHEDULER.address) -> EngineAccess:
    return EngineAccess(
        domain=DOMAIN,
        admins=[ADMIN.address],
        scheduler=scheduler,
        catalogue=Catalogue.model_validate(CATALOGUE),
        policy=EnginePolicy(),
    )


def verified(kind: str, fields: dict, key=ADMIN, book=None):
    book = book or founded_book(access(), NOW)
    message = {"nonce": 1, "deadline": NOW + 60, **fields}
    return verify(sign_command(kind, message, key.key, DOMAIN), DOMAIN, book, NOW, UsedNonces())


def test_the_founding_book_holds_the_config_admins_and_the_scheduler_as_an_operator():
    book = founded_book(access(), NOW)
    assert book.role_of(ADMIN.address) == Role.ADMIN
    assert book.role_of(SCHEDULER.address) == Role.OPERATOR
    assert book.members[SCHEDULER.address].name == "schedules"
    assert founded_book(access(None), NOW).members.keys() == {ADMIN.address}
    # A scheduler that is also an admin stays an admin.
    assert founded_book(access(ADMIN.address), NOW).role_of(ADMIN.address) == Role.ADMIN


def test_a_verified_allocation_is_the_request_the_engine_acted_on_named_for_its_signer():
    book = founded_book(access(), NOW)
    command = verified(
        "allocate", {"amounts": [{"chainId": 1, "asset": "USDC", "amount": "1000"}], "reason": "new"}, SCHEDULER, book
    )
    request = request_of(Operation.ALLOCATE, command, signer_name(command, book))
    assert request == AllocateRequest(
        by="schedules", reason="new", amounts=[{"chain_id": 1, "asset": "USDC", "amount": 1000}]
    )


def test_a_capital_request_carries_its_deadline_as_a_time_and_zero_as_none():
    fields = {
        "chainId": 1,
        "asset": "USDC",
        "amount": "5",
        "destination": TREASURY,
        "deliverBy": NOW + 3600,
        "partial": True,
        "exitPollSeconds": 60,
        "reason": "invoice",
    }
    command = verified("request_capital", fields)
    request = request_of(Operation.REQUEST_CAPITAL, command, signer_name(command, None))
    assert isinstance(request, CapitalRequest)
    assert request.by == ADMIN.address  # no book: the address
    assert request.deadline == datetime.fromtimestamp(NOW + 3600, UTC)
    assert (request.partial, request.exit_poll_s, request.amount, request.destination) == (True, 60, 5, TREASURY)
    command = verified("request_capital", {**fields, "deliverBy": 0})
    assert request_of(Operation.REQUEST_CAPITAL, command, "x").deadline is None


def test_a_harvest_is_its_reason_and_signer():
    command = verified("harvest", {"reason": "weekly"})
    assert request_of(Operation.HARVEST, command, "admin") == HarvestRequest(by="admin", reason="weekly")


def test_an_unsigned_pause_has_no_signer_name():
    command = verify(
        {
            "kind": "pause",
            "domain": DOMAIN.model_dump(mode="json"),
            "message": {"nonce": 1, "deadline": NOW, "reason": "x"},
        },
        DOMAIN,
        founded_book(access(), NOW),
        NOW,
        UsedNonces(),
    )
    assert signer_name(command, None) == ""


def test_the_memory_carries_access_across_continue_as_new_as_json():
    book = founded_book(access(), NOW)
    memory = EngineMemory(book=book, domain=DOMAIN, used_nonces=UsedNonces().add(ADMIN.address, 7, NOW + 60, NOW))
    again = EngineMemory.model_validate_json(memory.model_dump_json())
    assert again == memory and again.used_nonces.seen(ADMIN.address, 7)
    assert EngineMemory.model_validate({}).book is None  # a memory from before access control


@pytest.mark.parametrize("kind", [Operation.REBALANCE, Operation.HARVEST])
def test_every_operation_maps(kind):
    command = verified(kind.value, {"reason": "r"})
    assert request_of(kind, command, "n").by == "n"
