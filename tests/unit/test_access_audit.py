"""The audit log's hash chain: any edit, deletion, insertion or reordering is found."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from floor.access.audit import GENESIS, AuditRow, BadRow, canonical, chain_rows, row_hash, verify_chain

OPERATOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
T0 = 1_800_000_000


def rows(n: int = 6) -> list[AuditRow]:
    return [
        AuditRow(
            at=T0 + i,
            workflow_id="engine-floor",
            signer=OPERATOR if i % 3 else "",
            role="OPERATOR" if i % 3 else "",
            kind=["allocate", "harvest", "pause"][i % 3],
            digest="0x" + bytes([i]).hex() * 32,
            outcome="refused" if i % 2 else "accepted",
            reason=f"reason {i}",
        )
        for i in range(n)
    ]


def test_a_chained_log_verifies_and_each_row_links_to_the_one_before() -> None:
    chained = chain_rows(rows())
    assert verify_chain(chained) is None
    assert verify_chain(chained, head=chained[-1].hash) is None
    assert [r.seq for r in chained] == [1, 2, 3, 4, 5, 6]
    assert chained[0].prev == GENESIS and all(b.prev == a.hash for a, b in itertools.pairwise(chained))


def test_the_hash_is_sha256_of_the_canonical_json_without_the_hash() -> None:
    row = chain_rows(rows(1))[0]
    text = canonical(row)
    assert text.startswith(b'{"at":1800000000,"digest":"0x00') and b'"hash"' not in text
    assert row.hash == row_hash(row) == "0x" + hashlib.sha256(text).hexdigest()
    unicode = row.model_copy(update={"reason": "caf\u00e9 \u20ac"})
    assert b"caf\\u00e9 \\u20ac" in canonical(unicode)  # ASCII only: one byte string everywhere


@pytest.mark.parametrize(
    "field", ["at", "workflow_id", "signer", "role", "kind", "digest", "outcome", "reason", "seq", "prev"]
)
def test_an_edited_row_is_found(field: str) -> None:
    chained = chain_rows(rows())
    old = getattr(chained[3], field)
    if isinstance(old, int):
        new = old + 1
    elif field == "outcome":
        new = "accepted" if old == "refused" else "refused"
    else:
        new = old[:-1] + ("x" if old[-1:] != "x" else "y")
    chained[3] = chained[3].model_copy(update={field: new})
    assert verify_chain(chained) == BadRow(3, f"row {chained[3].seq}: its fields do not match its hash (edited)")


def test_an_edited_row_with_its_hash_recomputed_breaks_the_next_link() -> None:
    chained = chain_rows(rows())
    edited = chained[2].model_copy(update={"outcome": "accepted", "reason": "nothing to see"})
    chained[2] = edited.model_copy(update={"hash": row_hash(edited)})
    bad = verify_chain(chained)
    assert bad is not None and bad.row == 3 and "does not follow the row before" in bad.why


def test_a_deleted_row_is_found() -> None:
    chained = chain_rows(rows())
    del chained[2]
    assert verify_chain(chained).row == 2
    first_gone = chain_rows(rows())[1:]
    assert verify_chain(first_gone).row == 0


def test_rows_cut_from_the_end_are_found_against_the_head() -> None:
    chained = chain_rows(rows())
    head = chained[-1].hash
    assert verify_chain(chained[:-2]) is None  # the chain alone cannot tell
    bad = verify_chain(chained[:-2], head=head)
    assert bad.row == 4 and "rows cut from the end" in bad.why


def test_an_inserted_row_is_found() -> None:
    chained = chain_rows(rows())
    forged = chain_rows([rows()[0].model_copy(update={"reason": "forged"})], after=chained[2])[0]
    assert verify_chain([*chained[:3], forged, *chained[3:]]).row == 4  # the forged row links; the next does not
    rechained = chain_rows(rows(2), after=chained[2])  # even a whole rechained tail
    assert verify_chain([*chained[:3], *rechained, *chained[3:]]).row == 5


def test_reordered_rows_are_found() -> None:
    chained = chain_rows(rows())
    chained[1], chained[4] = chained[4], chained[1]
    assert verify_chain(chained).row == 1
    chained = chain_rows(rows())
    assert verify_chain(chained[::-1]).row == 0


def test_a_chain_continues_across_pages() -> None:
    first = chain_rows(rows(3))
    second = chain_rows(rows(4), after=first[-1])
    assert [r.seq for r in second] == [4, 5, 6, 7]
    assert verify_chain(first + second) is None
    assert verify_chain(second, after=first[-1], head=second[-1].hash) is None
    assert verify_chain(second).row == 0  # without its page's start it does not link
