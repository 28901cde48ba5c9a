"""StoreTests is strict: deliberately broken MemoryStores fail named tests of the suite.

Every broken store below breaks one rule of the contract. The suite runs against all of
them in one nested pytest session (in a temporary directory with its own empty config, so
pytest-asyncio runs in strict mode, as in a downstream project that never heard of
``asyncio_mode``); each test here then checks that the tests named for that rule failed,
and that the suite did not simply fail everything.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from ztesting.stateful import HierarchyStateMachine, ZarrStoreStateMachine

if TYPE_CHECKING:
    from pathlib import Path

BROKEN_STORES = textwrap.dedent(
    '''
    from __future__ import annotations

    import asyncio
    from typing import Any

    import pytest
    from zbuffer import cpu
    from zstore.core import MemoryStore, RangeByteRequest, Store, normalize_prefix, validate_key

    from ztesting.store import StoreTests


    class _RoutesReadsThroughGet(MemoryStore):
        """Batched reads use Store's defaults, which call get(), so one override breaks all."""

        get_partial_values = Store.get_partial_values
        _get_many = Store._get_many
        get_ranges = Store.get_ranges


    class OffByOneRangeStore(_RoutesReadsThroughGet):
        """Treats RangeByteRequest.end as inclusive."""

        async def get(self, key, prototype=None, byte_range=None):
            if not isinstance(byte_range, RangeByteRequest):
                return await super().get(key, prototype, byte_range)
            value = await super().get(key, prototype)
            if value is None:
                return None
            return value[byte_range.start : byte_range.end + 1]


    class WritableWhenReadOnlyStore(MemoryStore):
        """Reports read_only but writes anyway."""

        def __init__(self, store_dict=None, *, read_only=False):
            super().__init__(store_dict, read_only=False)
            self._claimed_read_only = read_only

        @property
        def read_only(self):
            return self._claimed_read_only

        def with_read_only(self, read_only=False):
            return type(self)(self._store_dict, read_only=read_only)

        def __eq__(self, other):
            return super().__eq__(other) and self.read_only == other.read_only


    class ClearIgnoresReadOnlyStore(MemoryStore):
        """clear() forgets the read-only check, as zarr-python's MemoryStore does."""

        async def clear(self) -> None:
            await MemoryStore(self._store_dict).clear()


    class NestedListDirStore(MemoryStore):
        """list_dir returns every key below the directory, not its direct children."""

        async def list_dir(self, prefix):
            directory = normalize_prefix(prefix)
            async for key in self.list_prefix(directory):
                yield key[len(directory):]


    class StringPrefixStore(MemoryStore):
        """Directory methods match "foo" against "foo-bar/..." (no trailing slash)."""

        async def _under(self, prefix):
            prefix = prefix.rstrip("/")
            return [k async for k in self.list_prefix(prefix)]

        async def delete_dir(self, prefix):
            self._check_writable()
            for key in await self._under(prefix):
                await self.delete(key)

        async def is_empty(self, prefix):
            return not await self._under(prefix)

        async def getsize_prefix(self, prefix):
            return sum([await self.getsize(k) for k in await self._under(prefix)])


    class NonAtomicSetIfNotExistsStore(MemoryStore):
        """Checks, yields to the loop, then writes: racing writers all win in turn."""

        async def set_if_not_exists(self, key, value):
            self._check_writable()
            if not await self.exists(key):
                await asyncio.sleep(0)
                await self.set(key, value)


    class IgnoresPrototypeStore(_RoutesReadsThroughGet):
        """Returns its own buffer class whatever the caller asked for."""

        async def get(self, key, prototype=None, byte_range=None):
            value = await super().get(key, prototype, byte_range)
            return None if value is None else cpu.Buffer.from_bytes(value.to_bytes())


    class AliasingStore(MemoryStore):
        """Keeps the caller's buffer instead of a copy."""

        async def set(self, key, value):
            self._check_writable()
            self._store_dict[key] = value


    class LaxKeyStore(MemoryStore):
        """exists() and delete() do not validate keys."""

        async def exists(self, key):
            return key in self._store_dict

        async def delete(self, key):
            self._check_writable()
            self._store_dict.pop(key, None)


    class NoOverwriteStore(MemoryStore):
        """set and _set_many keep the old value of a key that exists."""

        async def set(self, key, value):
            self._check_writable()
            if key not in self._store_dict:
                await super().set(key, value)

        async def _set_many(self, values):
            self._check_writable()
            values = list(values)
            await super()._set_many([(k, v) for k, v in values if k not in self._store_dict])


    class DirectoryAsKeyStore(MemoryStore):
        """A directory answers as an empty key, as os.path.exists / open would have it."""

        def _is_dir(self, key):
            return any(k.startswith(key + "/") for k in self._store_dict)

        def _lookup(self, key):
            validate_key(key)
            value = self._store_dict.get(key)
            if value is None and self._is_dir(key):
                return cpu.Buffer.from_bytes(b"")
            return value

        async def exists(self, key):
            validate_key(key)
            return key in self._store_dict or self._is_dir(key)

        async def get(self, key, prototype=None, byte_range=None):
            # MemoryStore.get looks keys up itself, not through _lookup.
            validate_key(key)
            if key not in self._store_dict and self._is_dir(key):
                return cpu.Buffer.from_bytes(b"")
            return await super().get(key, prototype, byte_range)

        async def getsize(self, key):
            validate_key(key)
            if key not in self._store_dict and self._is_dir(key):
                return 0
            return await super().getsize(key)


    class DetachedReadOnlyViewStore(MemoryStore):
        """with_read_only returns a store over other (empty) data."""

        def with_read_only(self, read_only=False):
            return type(self)(store_dict={}, read_only=read_only)


    class EqualsAnythingStore(MemoryStore):
        """== is True for any object."""

        def __eq__(self, other):
            return True

        __hash__ = None


    class LaxPrefixStore(MemoryStore):
        """Directory methods drop "." segments and a leading "/": "." is the root."""

        @staticmethod
        def _lax(prefix):
            if prefix in ("", "/"):
                return prefix
            return "/".join(s for s in prefix.removeprefix("/").split("/") if s != ".")

        def list_dir(self, prefix):
            return super().list_dir(self._lax(prefix))

        async def delete_dir(self, prefix):
            await super().delete_dir(self._lax(prefix))

        async def is_empty(self, prefix):
            return await super().is_empty(self._lax(prefix))

        async def getsize_prefix(self, prefix):
            return await super().getsize_prefix(self._lax(prefix))


    class DropsMissingGetManyStore(MemoryStore):
        """_get_many leaves out missing keys instead of yielding (key, None)."""

        async def _get_many(self, requests):
            async for key, value in super()._get_many(requests):
                if value is not None:
                    yield key, value


    class AcceptsNonBufferStore(MemoryStore):
        """set stores a value that is not a Buffer (a later get fails far from the cause)."""

        async def set(self, key, value):
            if isinstance(value, cpu.Buffer):
                return await super().set(key, value)
            self._check_writable()
            self._store_dict[key] = value


    def _suite(store_cls):
        class Suite(StoreTests):
            buffer_cls = cpu.Buffer

            async def set(self, store, key, value):
                store._store_dict[key] = value

            async def get(self, store, key):
                return store._store_dict[key]

            @pytest.fixture
            def store_kwargs(self) -> dict[str, Any]:
                return {}

        Suite.store_cls = store_cls
        Suite.__name__ = f"Test{store_cls.__name__}"
        return Suite


    TestOffByOneRangeStore = _suite(OffByOneRangeStore)
    TestWritableWhenReadOnlyStore = _suite(WritableWhenReadOnlyStore)
    TestClearIgnoresReadOnlyStore = _suite(ClearIgnoresReadOnlyStore)
    TestNestedListDirStore = _suite(NestedListDirStore)
    TestStringPrefixStore = _suite(StringPrefixStore)
    TestNonAtomicSetIfNotExistsStore = _suite(NonAtomicSetIfNotExistsStore)
    TestIgnoresPrototypeStore = _suite(IgnoresPrototypeStore)
    TestAliasingStore = _suite(AliasingStore)
    TestLaxKeyStore = _suite(LaxKeyStore)
    TestNoOverwriteStore = _suite(NoOverwriteStore)
    TestDirectoryAsKeyStore = _suite(DirectoryAsKeyStore)
    TestDetachedReadOnlyViewStore = _suite(DetachedReadOnlyViewStore)
    TestEqualsAnythingStore = _suite(EqualsAnythingStore)
    TestLaxPrefixStore = _suite(LaxPrefixStore)
    TestDropsMissingGetManyStore = _suite(DropsMissingGetManyStore)
    TestAcceptsNonBufferStore = _suite(AcceptsNonBufferStore)
    '''
)

# store -> tests (node ids within its class, parametrisation included) that must fail.
MUST_FAIL: dict[str, list[str]] = {
    "OffByOneRangeStore": [
        "test_get_byte_range_edge[inner-range]",
        "test_get_byte_range_edge[zero-length-range-middle]",
        "test_get_every_small_byte_range_matches_slicing",
        "test_get_partial_values_byte_range_edges",
        "test_get_ranges_equals_individual_gets",
    ],
    "WritableWhenReadOnlyStore": [
        "test_read_only_store_raises",
        "test_read_only_store_refuses_every_write_path[set]",
        "test_read_only_store_refuses_every_write_path[set_if_not_exists]",
        "test_read_only_store_refuses_every_write_path[delete]",
        "test_read_only_store_refuses_every_write_path[delete_dir]",
        "test_read_only_store_refuses_every_write_path[clear]",
        "test_read_only_store_refuses_every_write_path[_set_many]",
        "test_with_read_only_view_refuses_every_write_path[set]",
        "test_pickled_read_only_store_stays_read_only",
    ],
    "ClearIgnoresReadOnlyStore": [
        "test_read_only_store_refuses_every_write_path[clear]",
        "test_with_read_only_view_refuses_every_write_path[clear]",
    ],
    "NestedListDirStore": [
        "test_list_dir",
        "test_list_dir_never_returns_nested_names",
        "test_list_dir_lists_each_direct_child_once",
        "test_list_dir_of_root_lists_top_level_names",
        "test_list_dir_after_delete_dir_matches_memory_store",
    ],
    "StringPrefixStore": [
        "test_delete_dir",
        "test_delete_dir_leaves_siblings_sharing_a_string_prefix[foo]",
        "test_delete_dir_c_leaves_cc_untouched",
        "test_is_empty_of_c_ignores_sibling_cc",
        "test_getsize_prefix",
        "test_getsize_prefix_counts_only_the_directory",
    ],
    "NonAtomicSetIfNotExistsStore": ["test_set_if_not_exists_race_has_exactly_one_winner"],
    "IgnoresPrototypeStore": [
        "test_get_returns_instance_of_requested_prototype",
        "test_get_partial_values_returns_instances_of_requested_prototype",
        "test_get_many_returns_instances_of_requested_prototype",
        "test_get_ranges_returns_instances_of_requested_prototype",
    ],
    "AliasingStore": ["test_set_does_not_alias_caller_memory"],
    "LaxKeyStore": [
        "test_exists_rejects_invalid_key[leading-dotdot]",
        "test_delete_rejects_invalid_key[nul]",
    ],
    "NoOverwriteStore": [
        "test_set_overwrites_an_existing_key[longer-set]",
        "test_set_overwrites_an_existing_key[shorter-_set_many]",
    ],
    "DirectoryAsKeyStore": [
        "test_a_directory_is_not_a_key[exists]",
        "test_a_directory_is_not_a_key[get]",
        "test_a_directory_is_not_a_key[get_partial_values]",
        "test_a_directory_is_not_a_key[_get_many]",
        "test_a_directory_is_not_a_key[getsize]",
    ],
    "DetachedReadOnlyViewStore": ["test_with_read_only_views_share_data"],
    "EqualsAnythingStore": ["test_store_eq"],
    "LaxPrefixStore": [
        "test_directory_methods_reject_invalid_prefix[dot-delete_dir]",
        "test_directory_methods_reject_invalid_prefix[leading-dot-list_dir]",
        "test_directory_methods_reject_invalid_prefix[inner-dot-is_empty]",
        "test_directory_methods_reject_invalid_prefix[leading-slash-getsize_prefix]",
    ],
    "DropsMissingGetManyStore": ["test_get_many"],
    "AcceptsNonBufferStore": ["test_write_rejects_a_value_that_is_not_a_buffer[bytes-set]"],
}


class _Outcomes:
    """A pytest plugin that records the outcome of every test call by node id."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[report.nodeid] = report.outcome


@pytest.fixture(scope="module")
def broken_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Run StoreTests against every broken store once; outcomes by store, then test."""
    root: Path = tmp_path_factory.mktemp("broken")
    # An empty config (no asyncio_mode), as in a downstream project.
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (root / "test_broken_stores.py").write_text(BROKEN_STORES)
    recorder = _Outcomes()
    pytest.main(
        [
            str(root),
            "-q",
            "--tb=no",  # formatting ~100 expected failures costs more than running them
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            "-c",
            str(root / "pytest.ini"),
            "--rootdir",
            str(root),
            # The tests of invalid or non-str keys and prefixes are about 130 of each
            # store's 280; only the stores that break those rules need them.
            "-k",
            "LaxKey or LaxPrefix or not (rejects_invalid or reject_invalid or not_a_str)",
        ],
        plugins=[recorder],
    )
    by_store: dict[str, dict[str, str]] = {}
    for nodeid, outcome in recorder.outcomes.items():
        _, cls, test = nodeid.split("::")
        by_store.setdefault(cls.removeprefix("Test"), {})[test] = outcome
    return by_store


@pytest.mark.parametrize("store", sorted(MUST_FAIL))
def test_broken_store_fails_the_named_tests(
    broken_outcomes: dict[str, dict[str, str]], store: str
) -> None:
    outcomes = broken_outcomes.get(store)
    assert outcomes, f"the suite did not run against {store}"
    missed = [t for t in MUST_FAIL[store] if outcomes.get(t) != "failed"]
    assert not missed, f"{store} is broken but these tests did not fail: " + ", ".join(
        f"{t} ({outcomes.get(t, 'not run')})" for t in missed
    )


@pytest.mark.parametrize("store", sorted(MUST_FAIL))
def test_broken_store_still_passes_unrelated_tests(
    broken_outcomes: dict[str, dict[str, str]], store: str
) -> None:
    """The failures are targeted: most of the suite still passes for each broken store."""
    outcomes = broken_outcomes[store]
    passed = sum(1 for o in outcomes.values() if o == "passed")
    assert passed > len(outcomes) // 2, f"{store}: only {passed} of {len(outcomes)} passed"


def _state_machine_fails(factory: Any) -> Exception:
    # Generation only: shrinking a failure we expect would only cost time.
    fast = settings(max_examples=200, phases=[Phase.generate], deadline=None)
    with pytest.raises(Exception) as info:
        run_state_machine_as_test(factory, settings=fast)
    return info.value


def test_zarr_store_state_machine_catches_wrong_range_arithmetic() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(BROKEN_STORES, "broken_stores", "exec"), namespace)
    store = namespace["OffByOneRangeStore"]()
    _state_machine_fails(lambda: ZarrStoreStateMachine(store))


@pytest.mark.parametrize(
    "name", ["NoOverwriteStore", "DirectoryAsKeyStore", "DropsMissingGetManyStore"]
)
def test_zarr_store_state_machine_catches(name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(BROKEN_STORES, "broken_stores", "exec"), namespace)
    store = namespace[name]()
    _state_machine_fails(lambda: ZarrStoreStateMachine(store))


@pytest.mark.parametrize("name", ["NoOverwriteStore", "DirectoryAsKeyStore"])
def test_hierarchy_state_machine_catches(name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(BROKEN_STORES, "broken_stores", "exec"), namespace)
    store = namespace[name]()
    _state_machine_fails(lambda: HierarchyStateMachine(store))


def test_hierarchy_state_machine_catches_nested_list_dir_and_string_prefixes() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(BROKEN_STORES, "broken_stores", "exec"), namespace)
    for name in ["NestedListDirStore", "StringPrefixStore"]:
        store = namespace[name]()
        _state_machine_fails(lambda store=store: HierarchyStateMachine(store))
