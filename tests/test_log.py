"""The log's canonical JSON is RFC 8785, whichever serialiser produced it."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.store.log import Head, canonical

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False), st.text(),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=20)


@settings(max_examples=1000)
@given(values)
def test_canonical_equals_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception as exc:  # noqa: BLE001 - whatever rfc8785 refuses, canonical refuses alike
        try:
            canonical(value)
        except Exception as mine:  # noqa: BLE001
            assert type(mine) is type(exc)
            return
        raise AssertionError(f"canonical accepted what rfc8785 refuses: {value!r}") from None
    assert canonical(value) == expected


def test_canonical_examples() -> None:
    assert canonical({"b": 1, "a": [True, None, "ё\n\u001f"]}) == b'{"a":[true,null,"\xd1\x91\\n\\u001f"],"b":1}'
    assert canonical({"score": 1.0, "x": 0.1}) == b'{"score":1,"x":0.1}'


def test_head_parse() -> None:
    assert str(Head.parse("7:" + "a" * 64)) == "7:" + "a" * 64


rows = st.dictionaries(st.text(max_size=8), values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(rows, st.booleans(), st.dictionaries(st.sampled_from(["note", "reason", "score"]), values, max_size=2))
def test_an_appended_entry_is_rfc8785_and_its_hashes_are_of_rfc8785_bytes(row: dict, no_row: bool, extra: dict) -> None:
    import hashlib
    import tempfile
    from pathlib import Path

    from ingest.store.log import EventLog

    log = EventLog(Path(tempfile.mkdtemp()))
    try:
        expected_row = rfc8785.dumps(row)
        rfc8785.dumps(extra)
    except Exception:  # noqa: BLE001 - what RFC 8785 cannot write, the log refuses
        return
    entry = log.append("event", "claims", "k", None if no_row else row, **extra)
    assert log.last_line == rfc8785.dumps(entry)
    assert entry["row_hash"] == hashlib.sha256(b"{}" if no_row else expected_row).hexdigest()
    assert entry["hash"] == hashlib.sha256(rfc8785.dumps({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def test_a_torn_last_line_is_cut_back_to_the_last_complete_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ingest.store.log import EventLog

    log = EventLog(tmp_path)
    for i in range(3):
        log.append("note", note=str(i))
    path = log.files()[-1]
    whole = path.read_bytes()
    assert log.repair_torn_tail() == b""  # ends with a newline: nothing to cut
    torn = b'{"seq": 4, "note": "' + b"x" * 200_000  # longer than the block read back at a time
    path.write_bytes(whole + torn)
    assert log.repair_torn_tail() == torn
    assert path.read_bytes() == whole
    assert log.head().seq == 3
    path.write_bytes(b"no newline at all")  # the first line itself torn: the file is emptied
    assert log.repair_torn_tail() == b"no newline at all"
    assert path.read_bytes() == b""
