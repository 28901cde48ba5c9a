"""The sorted key index behind MemoryStore, against a plain sorted-set model."""

from __future__ import annotations

import pytest
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


def test_children_skips_a_sub_directory_without_skipping_names_that_extend_it() -> None:
    # After "1/a" the search jumps past every "1/..." key, and no further: "10" and
    # "10/x" sort right after that run and must still be found.
    index = SortedKeys(["1-x", "1/a", "1/b", "10", "10/x", "2"], load=1)
    assert index.children("") == ["1-x", "1", "10", "2"]
    assert index.children("1/") == ["a", "b"]


@pytest.mark.parametrize("order", ["ascending", "descending", "interleaved"])
def test_every_key_stays_findable_across_block_splits(order: str) -> None:
    names = [f"k{i:02d}" for i in range(40)]
    ordered = {
        "ascending": names,
        "descending": names[::-1],
        "interleaved": names[::2] + names[1::2],
    }[order]
    index = SortedKeys(load=2)
    for name in ordered:
        index.add(name)
    assert list(index) == names
    # Blocks are split once they pass twice the load, so an insert stays a short memmove.
    assert max(len(block) for block in index._blocks) <= 2 * 2
    for name in names:
        assert name in index, f"{name} is stored but not found after a split"
        assert index.first_with_prefix(name) == name
    for name in ordered:
        assert index.discard(name), f"{name} could not be removed after a split"
    assert list(index) == []


@pytest.mark.parametrize("remove", ["discard", "pop_prefix"])
def test_removing_the_last_keys_of_a_block_moves_its_bound(remove: str) -> None:
    # Each block's recorded maximum must follow removals: a stale one sends a search for
    # the removed keys into a block that no longer holds anything that large.
    index = SortedKeys(["a", "b/1", "b/2", "c", "d", "e"], load=3)
    if remove == "discard":
        assert index.discard("b/2")
        assert index.discard("b/1")
    else:
        assert index.pop_prefix("b/") == ["b/1", "b/2"]
    assert index.first_with_prefix("b") is None
    assert not index.any_with_prefix("b/")
    assert index.with_prefix("b") == []
    assert index.children("") == ["a", "c", "d", "e"]
    index.add("b0")
    assert list(index) == ["a", "b0", "c", "d", "e"]
    assert "b0" in index


@pytest.mark.parametrize("load", [1, 2, 512])
def test_a_key_equal_to_the_prefix_end_is_not_under_the_prefix(load: int) -> None:
    # "a0" is prefix_end("a/"), the exclusive bound of the range: whichever block it ends,
    # it is not a key under "a/".
    index = SortedKeys(["a/1", "a/2", "a0", "b"], load=load)
    assert index.with_prefix("a/") == ["a/1", "a/2"]
    assert index.pop_prefix("a/") == ["a/1", "a/2"]
    assert list(index) == ["a0", "b"]


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
