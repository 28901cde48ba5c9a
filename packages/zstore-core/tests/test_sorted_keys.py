"""The sorted key index behind MemoryStore, against a plain sorted-set model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from zstore.core._sorted_keys import SortedKeys, prefix_end

segments = st.sampled_from(["a", "b", "ab", "a-b", "c", "0", "1", "10", "zarr.json"])
keys = st.lists(segments, min_size=1, max_size=4).map("/".join)
prefixes = st.one_of(st.just(""), keys, keys.map(lambda k: k + "/"), st.sampled_from(["a", "a/"]))


def model_children(model: set[str], directory: str) -> list[str]:
    names: dict[str, None] = {}
    for key in sorted(model):
        if key.startswith(directory):
            names.setdefault(key[len(directory) :].split("/")[0], None)
    return list(names)


@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["add", "discard", "pop", "update"]), keys), max_size=80
    ),
    query=prefixes,
    load=st.integers(1, 4),
)
def test_index_matches_a_sorted_set_under_random_operations(
    ops: list[tuple[str, str]], query: str, load: int
) -> None:
    index = SortedKeys(load=load)
    model: set[str] = set()
    for op, key in ops:
        if op == "add":
            if key not in model:
                index.add(key)
                model.add(key)
        elif op == "update":
            batch = [k for k in (key + "/u", key, key + "/a") if k not in model]
            index.update(batch)
            model.update(batch)
        elif op == "discard":
            assert index.discard(key) == (key in model)
            model.discard(key)
        else:
            removed = index.pop_prefix(key + "/")
            expected = sorted(k for k in model if k.startswith(key + "/"))
            assert removed == expected
            model.difference_update(expected)
        assert len(index) == len(model)
    assert list(index) == sorted(model)
    assert index.with_prefix(query) == sorted(k for k in model if k.startswith(query))
    assert index.any_with_prefix(query) == any(k.startswith(query) for k in model)
    directory = query if query == "" or query.endswith("/") else query + "/"
    assert sorted(index.children(directory)) == sorted(model_children(model, directory))
    for key in model:
        assert key in index


def test_children_lists_each_name_once_and_skips_siblings_with_longer_names() -> None:
    index = SortedKeys(["foo/x", "foo/y/z", "foo/y/w", "foo-bar/x", "foo", "foo/y"], load=1)
    assert index.children("foo/") == ["x", "y"]
    assert index.children("") == ["foo", "foo-bar"]


def test_prefix_end_bounds_every_extension() -> None:
    assert prefix_end("") is None
    assert prefix_end("a/") == "a0"
    end = prefix_end("ab")
    assert end is not None
    assert end > "ab\U0010ffff"
    assert prefix_end("\U0010ffff") is None


def test_large_sorted_insert_splits_blocks_and_stays_sorted() -> None:
    index = SortedKeys(load=8)
    for i in reversed(range(500)):
        index.add(f"k{i:04d}")
    assert list(index) == [f"k{i:04d}" for i in range(500)]
    assert index.pop_prefix("k01") == [f"k{i:04d}" for i in range(100, 200)]
    assert len(index) == 400


def test_the_model_test_runs_as_many_examples_as_the_active_profile_says() -> None:
    # The profile (ztesting's ci, nightly, or --hypothesis-profile) sets how thorough a run
    # is; a count pinned on the test would make nightly no more thorough than ci.
    test = test_index_matches_a_sorted_set_under_random_operations
    used = test._hypothesis_internal_use_settings  # type: ignore[attr-defined]
    assert used.max_examples == settings().max_examples, (
        f"pinned to {used.max_examples} examples; the profile says {settings().max_examples}"
    )
