"""Fingerprints: the same data gives the same digest whatever the key order; any change gives another."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from ximagenet12.provenance import compact_fingerprint, fingerprint

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=6))
def test_compact_fingerprint_ignores_key_order(data: dict) -> None:
    reordered = dict(reversed(list(data.items())))
    assert compact_fingerprint(reordered) == compact_fingerprint(data)


@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=6), st.text(max_size=6))
def test_compact_fingerprint_changes_with_the_data(data: dict, key: str) -> None:
    changed = {**data, key: ["changed", data.get(key)]}
    assert compact_fingerprint(changed) != compact_fingerprint(data)


def test_compact_fingerprint_is_sha256_of_sorted_compact_json() -> None:
    data = {"b": [1, "é"], "a": None}
    text = '{"a":null,"b":[1,"é"]}'
    assert compact_fingerprint(data) == hashlib.sha256(text.encode()).hexdigest()
    assert json.loads(text) == data
    assert compact_fingerprint(data) != fingerprint(data)  # a different text, so never mixed up
