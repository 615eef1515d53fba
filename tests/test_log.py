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
