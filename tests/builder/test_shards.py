"""Arrow columns built from buffers equal what `pa.array` makes of the same Python values."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ximagenet12_builder.shards import column, parquet_format

from ximagenet12.features import features, features_dict, features_yaml

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


@pytest.mark.parametrize(
    ("type_", "values"),
    [
        (pa.int8(), st.integers(-128, 127)),
        (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
        (pa.string(), st.text()),
        (pa.binary(), st.binary()),
    ],
)
@settings(deadline=None)  # the reference, pa.array, imports pandas on its first call
@given(data=st.data())
def test_a_column_equals_pa_array(type_: pa.DataType, values: st.SearchStrategy, data: st.DataObject) -> None:
    items = data.draw(st.lists(st.none() | values, max_size=40))
    built = column(items, type_)
    built.validate(full=True)
    assert built.equals(pa.array(items, type=type_))
    assert built.null_count == items.count(None)


@settings(deadline=None)
@given(st.lists(st.fixed_dictionaries({"bytes": st.binary(), "path": st.none() | st.text(max_size=5)}), max_size=20))
def test_an_image_column_equals_pa_array(items: list[dict]) -> None:
    built = column(items, IMAGE)
    built.validate(full=True)
    assert built.equals(pa.array(items, type=IMAGE))


def test_a_type_without_a_layout_is_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        column([1.0], pa.float32())


@pytest.mark.parametrize("names", [["a"], ["n01440764", "tench, Tinca tinca", "b"]])
def test_the_parquet_format_is_what_datasets_writes(names: list[str]) -> None:
    import datasets
    from datasets.arrow_writer import get_parquet_column_options

    feats = features(names)
    fmt = parquet_format(names)
    assert feats.to_dict() == features_dict(names)
    assert feats._to_yaml_list() == features_yaml(names)
    assert fmt.schema.equals(feats.arrow_schema, check_metadata=True)
    assert fmt.column_options == get_parquet_column_options(feats, feats.arrow_schema)
    assert fmt.cdc_options == datasets.config.DEFAULT_CDC_OPTIONS
