"""The Store ABC's default implementations, through a minimal subclass.

``SlowDictStore`` implements only the abstract methods (each yielding to the event loop and
counting calls in flight), so every default inherited from ``Store`` is exercised as a
third-party store author would get it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import (
    READ_ONLY_MESSAGE,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    StorePath,
    SuffixByteRequest,
    SupportsGetSync,
    SupportsSetSync,
    coalesce_ranges,
    normalize_byte_range,
    normalize_prefix,
    store_supports_sync_io,
    validate_key,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from zbuffer.core import Buffer as AnyBuffer
    from zbuffer.core import BufferPrototype
    from zstore.core import ByteRequest


class SlowDictStore(Store):  # noqa: PLW1641 - unhashable like every store
    supports_writes = True
    supports_deletes = True
    supports_listing = True

    def __init__(self, *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self.data: dict[str, bytes] = {}
        self.in_flight = 0
        self.most_in_flight = 0
        self.gets: list[ByteRequest | None] = []

    async def _enter(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        for _ in range(2):
            await asyncio.sleep(0)
        self.in_flight -= 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlowDictStore) and self.data == other.data

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> AnyBuffer | None:
        validate_key(key)
        await self._ensure_open()
        self.gets.append(byte_range)
        await self._enter()
        if key not in self.data:
            return None
        value = self.data[key]
        start, stop = normalize_byte_range(byte_range, len(value))
        return prototype.buffer.from_bytes(value[start:stop])

    async def exists(self, key: str) -> bool:
        return validate_key(key) in self.data

    async def set(self, key: str, value: AnyBuffer) -> None:
        self._check_writable()
        validate_key(key)
        await self._enter()
        self.data[key] = value.to_bytes()

    async def delete(self, key: str) -> None:
        self._check_writable()
        validate_key(key)
        await self._enter()
        self.data.pop(key, None)

    async def list(self) -> AsyncIterator[str]:
        for key in list(self.data):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in sorted(self.data):
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        directory = normalize_prefix(prefix)
        names = {k[len(directory) :].split("/")[0] for k in self.data if k.startswith(directory)}
        for name in sorted(names):
            yield name


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> SlowDictStore:
    monkeypatch.setenv("ZSTORE_CONCURRENCY", "4")
    return SlowDictStore()


async def test_set_many_is_bounded_and_concurrent(slow: SlowDictStore) -> None:
    await slow._set_many([(f"k/{i}", buf(b"x")) for i in range(40)])
    assert len(slow.data) == 40
    assert slow.most_in_flight == 4, "not bounded by ZSTORE_CONCURRENCY, or not concurrent"


async def test_set_many_with_a_bad_key_writes_nothing(slow: SlowDictStore) -> None:
    with pytest.raises(ValueError, match="'a//b'"):
        await slow._set_many([("good", buf(b"1")), ("a//b", buf(b"2"))])
    assert slow.data == {}


async def test_get_many_and_get_partial_values_are_bounded(slow: SlowDictStore) -> None:
    slow.data = {f"k/{i}": bytes([i]) for i in range(20)}
    requests = [(f"k/{i}", buffer_prototype, None) for i in range(20)] + [
        ("missing", buffer_prototype, None)
    ]
    got = {k: (v.to_bytes() if v is not None else None) async for k, v in slow._get_many(requests)}
    assert got == {**{f"k/{i}": bytes([i]) for i in range(20)}, "missing": None}
    assert slow.most_in_flight == 4
    partial = await slow.get_partial_values(
        buffer_prototype, [("k/3", None), ("nope", None), ("k/4", RangeByteRequest(0, 0))]
    )
    assert [p.to_bytes() if p is not None else None for p in partial] == [b"\x03", None, b""]


async def test_directory_defaults_respect_sibling_prefixes(slow: SlowDictStore) -> None:
    slow.data = {"foo/a": b"12", "foo/b/c": b"345", "foo-bar/x": b"6", "foo": b"78"}
    assert await slow.getsize_prefix("foo") == 5
    assert await slow.getsize("foo-bar/x") == 1
    assert not await slow.is_empty("foo/")
    assert await slow.is_empty("fo")
    await slow.delete_dir("foo")
    assert slow.data == {"foo-bar/x": b"6", "foo": b"78"}
    await slow.clear()
    assert slow.data == {}
    assert await slow.is_empty("")


async def test_getsize_of_a_missing_key_names_it(slow: SlowDictStore) -> None:
    with pytest.raises(FileNotFoundError, match="missing/key") as info:
        await slow.getsize("missing/key")
    assert info.value.filename == "missing/key"


async def test_read_only_defaults_refuse_every_write(slow: SlowDictStore) -> None:
    store = SlowDictStore(read_only=True)
    store.data = {"k": b"1"}
    for call in (
        store.set_if_not_exists("new", buf(b"1")),
        store._set_many([("new", buf(b"1"))]),
        store.delete_dir(""),
        store.clear(),
    ):
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await call
    assert store.data == {"k": b"1"}


async def test_read_only_defaults_refuse_writes_that_set_would_never_see() -> None:
    # A write the default would not hand to ``set`` (the key exists, or there is nothing
    # to write) is refused all the same, and before the batch's keys are looked at.
    store = SlowDictStore(read_only=True)
    store.data = {"k": b"1"}
    for call in (
        store.set_if_not_exists("k", buf(b"2")),
        store._set_many([]),
        store._set_many([("a//b", buf(b"2"))]),
    ):
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await call
    assert store.data == {"k": b"1"}


async def test_with_read_only_default_is_not_implemented(slow: SlowDictStore) -> None:
    with pytest.raises(NotImplementedError, match="with_read_only"):
        slow.with_read_only(True)


async def test_lifecycle(slow: SlowDictStore) -> None:
    store = await SlowDictStore.open()
    assert store._is_open
    with pytest.raises(ValueError, match="store is already open"):
        await store._open()
    store.close()
    async with store as entered:
        assert entered is store
        assert store._is_open
    assert not store._is_open
    assert store.supports_partial_writes is False
    assert store.supports_consolidated_metadata is True


async def test_get_ranges_coalesces_nearby_ranges_and_tags_each_result(
    slow: SlowDictStore,
) -> None:
    value = bytes(range(256)) * 4
    slow.data = {"v": value}
    ranges: list[ByteRequest | None] = [
        RangeByteRequest(10, 20),
        RangeByteRequest(0, 5),
        RangeByteRequest(22, 30),
        RangeByteRequest(900, 2000),
        OffsetByteRequest(1000),
        SuffixByteRequest(3),
        None,
        RangeByteRequest(5000, 5001),
    ]
    batches = [
        batch
        async for batch in slow.get_ranges(
            "v", ranges, prototype=buffer_prototype, max_gap_bytes=8, max_coalesced_bytes=64
        )
    ]
    got = {i: (b.to_bytes() if b is not None else None) for batch in batches for i, b in batch}
    for i, request in enumerate(ranges):
        start, stop = normalize_byte_range(request, len(value))
        assert got[i] == value[start:stop], f"range {i} ({request}) came back wrong"
    # 0..5, 10..20 and 22..30 merge into one fetch; the rest are fetched alone.
    assert RangeByteRequest(0, 30) in slow.gets
    assert len(slow.gets) == 6
    # One batch per fetch, as in zarr-python: the merged fetch serves three requests.
    assert sorted(len(batch) for batch in batches) == [1, 1, 1, 1, 1, 3]


async def test_get_ranges_of_a_missing_key_raises_a_group_naming_the_key(
    slow: SlowDictStore,
) -> None:
    requests = [RangeByteRequest(0, 1), None]
    with pytest.raises(BaseExceptionGroup) as info:
        _ = [x async for x in slow.get_ranges("nope", requests, prototype=buffer_prototype)]
    missing = info.value.subgroup(FileNotFoundError)
    assert missing is not None, info.value.exceptions
    assert "nope" in str(missing.exceptions[0])


async def test_get_ranges_keeps_at_most_max_concurrency_fetches_in_flight(
    slow: SlowDictStore,
) -> None:
    slow.data = {"v": bytes(1000)}
    requests: list[ByteRequest | None] = [SuffixByteRequest(i) for i in range(1, 30)]
    batches = [
        b
        async for b in slow.get_ranges("v", requests, prototype=buffer_prototype, max_concurrency=3)
    ]
    assert sorted(i for batch in batches for i, _ in batch) == list(range(29))
    assert slow.most_in_flight == 3, slow.most_in_flight


async def test_get_ranges_rejects_a_bad_key(slow: SlowDictStore) -> None:
    with pytest.raises(ValueError, match=r"'\.\./v'"):
        _ = [x async for x in slow.get_ranges("../v", [None], prototype=buffer_prototype)]


def test_coalesce_ranges_respects_gap_and_size_budgets() -> None:
    ranges: list[ByteRequest | None] = [
        RangeByteRequest(0, 10),
        RangeByteRequest(15, 20),  # gap 5
        RangeByteRequest(40, 50),  # gap 20 from 20
        RangeByteRequest(50, 200),  # adjacent but makes the span too big
        OffsetByteRequest(3),
        RangeByteRequest(5, 8),  # inside the first
    ]
    groups = coalesce_ranges(ranges, max_gap=8, max_size=100)
    as_sets = sorted(sorted(g) for g in groups)
    assert as_sets == [[0, 1, 5], [2], [3], [4]]
    assert sorted(i for g in groups for i in g) == list(range(len(ranges)))


def test_coalesce_ranges_budgets_are_inclusive() -> None:
    # A gap of exactly max_gap is bridged and a span of exactly max_size is allowed, as in
    # zarr-python; one byte more of either starts a new fetch.
    pair: list[ByteRequest | None] = [RangeByteRequest(0, 10), RangeByteRequest(18, 20)]
    assert coalesce_ranges(pair, max_gap=8, max_size=100) == [[0, 1]]
    assert coalesce_ranges(pair, max_gap=7, max_size=100) == [[0], [1]]
    assert coalesce_ranges(pair, max_gap=8, max_size=20) == [[0, 1]]
    assert coalesce_ranges(pair, max_gap=8, max_size=19) == [[0], [1]]


def test_coalesce_ranges_applies_any_budget_as_written_as_zarr_does() -> None:
    # zarr-python 3.4.2 takes any gap and size and applies its rule as written: a negative
    # gap still merges ranges that overlap by more than it, a size of 0 merges only empty
    # ranges at one offset. Neither is an error.
    ranges: list[ByteRequest | None] = [
        RangeByteRequest(0, 4),
        RangeByteRequest(2, 6),  # overlaps the first by 2
        RangeByteRequest(6, 8),  # touches the second
        RangeByteRequest(9, 9),
        RangeByteRequest(9, 9),
    ]
    as_sets = sorted(sorted(g) for g in coalesce_ranges(ranges, max_gap=-1, max_size=100))
    assert as_sets == [[0, 1], [2], [3], [4]]
    as_sets = sorted(sorted(g) for g in coalesce_ranges(ranges, max_gap=8, max_size=0))
    assert as_sets == [[0], [1], [2], [3, 4]]
    assert len(coalesce_ranges(ranges, max_gap=-100, max_size=-1)) == len(ranges)


def test_coalesce_ranges_keeps_equal_starts_in_input_order_as_zarr_does() -> None:
    # zarr-python 3.4.2 sorts by start alone (a stable sort), so the plans below are its own:
    # the order of ranges with one start decides which of them fits a size budget.
    ranges: list[ByteRequest | None] = [
        RangeByteRequest(0, 4),
        RangeByteRequest(4, 20),  # too big to join the first group...
        RangeByteRequest(4, 6),  # ...and then starts its own, which this cannot join
    ]
    assert coalesce_ranges(ranges, max_gap=0, max_size=8) == [[0], [1], [2]]
    ties: list[ByteRequest | None] = [
        RangeByteRequest(0, 10),
        RangeByteRequest(0, 2),
        RangeByteRequest(2, 3),
    ]
    assert coalesce_ranges(ties, max_gap=0, max_size=100) == [[0, 1, 2]], (
        "one fetch, its ranges in zarr-python's order: by start, ties in input order"
    )


@pytest.mark.parametrize(
    "knobs",
    [{"max_coalesced_bytes": 0}, {"max_gap_bytes": -1}, {"max_coalesced_bytes": -5}],
    ids=str,
)
async def test_get_ranges_accepts_budgets_that_leave_every_range_alone(
    slow: SlowDictStore, knobs: dict[str, int]
) -> None:
    value = bytes(range(100))
    slow.data = {"v": value}
    ranges: list[ByteRequest | None] = [RangeByteRequest(0, 2), RangeByteRequest(2, 4)]
    batches = [
        batch async for batch in slow.get_ranges("v", ranges, prototype=buffer_prototype, **knobs)
    ]
    got = {i: b.to_bytes() for batch in batches for i, b in batch if b is not None}
    assert got == {0: value[0:2], 1: value[2:4]}
    assert sorted(slow.gets, key=str) == sorted(ranges, key=str), "ranges were merged"


@pytest.mark.parametrize(
    ("knobs", "error", "name"),
    [
        ({"max_concurrency": 0}, ValueError, "max_concurrency"),
        ({"max_concurrency": -1}, ValueError, "max_concurrency"),
        ({"max_concurrency": None}, TypeError, "max_concurrency"),
        ({"max_concurrency": 1.5}, TypeError, "max_concurrency"),
        ({"max_gap_bytes": None}, TypeError, "max_gap_bytes"),
        ({"max_coalesced_bytes": "16"}, TypeError, "max_coalesced_bytes"),
    ],
    ids=str,
)
async def test_get_ranges_names_the_bad_knob(
    slow: SlowDictStore, knobs: dict[str, object], error: type[Exception], name: str
) -> None:
    slow.data = {"v": bytes(10)}
    with pytest.raises(error, match=name):
        _ = [
            x
            async for x in slow.get_ranges(
                "v",
                [RangeByteRequest(0, 1)],
                prototype=buffer_prototype,
                **knobs,  # type: ignore[arg-type]
            )
        ]
    assert slow.gets == [], "a fetch started before the knobs were checked"


async def test_get_ranges_of_no_ranges_yields_nothing_whatever_the_key_and_knobs(
    slow: SlowDictStore,
) -> None:
    # zarr-python returns before it looks at the key or the knobs; only the key rule,
    # stricter here, still applies.
    batches = [
        x async for x in slow.get_ranges("nope", [], prototype=buffer_prototype, max_concurrency=0)
    ]
    assert batches == []
    assert slow.gets == []


async def test_get_ranges_reports_a_bad_range_type_in_a_group(slow: SlowDictStore) -> None:
    slow.data = {"v": bytes(10)}
    with pytest.raises(BaseExceptionGroup) as info:
        _ = [
            x
            async for x in slow.get_ranges(
                "v",
                [RangeByteRequest(0, 1), (0, 1)],  # type: ignore[list-item]
                prototype=buffer_prototype,
            )
        ]
    assert info.group_contains(TypeError, match="Unexpected byte_range"), info.value.exceptions


async def test_get_partial_values_raises_a_get_cancelled_from_inside(
    slow: SlowDictStore,
) -> None:
    class CancelledInsideStore(SlowDictStore):
        async def get(
            self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
        ) -> AnyBuffer | None:
            if key == "b":
                # Awaits a future something else cancelled: not the caller's cancellation.
                future = asyncio.get_running_loop().create_future()
                future.cancel()
                await future
            return await super().get(key, prototype, byte_range)

    store = CancelledInsideStore()
    store.data = {"a": b"1", "b": b"2", "c": b"3"}
    # Before, "b" came back as None: a missing key.
    with pytest.raises(asyncio.CancelledError):
        await store.get_partial_values(buffer_prototype, [(k, None) for k in "abc"])


def test_store_cannot_be_instantiated_without_the_abstract_methods() -> None:
    class Incomplete(Store):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


# ---------------------------------------------------------------- the sync surface


class SyncDictStore(SlowDictStore):
    """SlowDictStore plus ``get_sync``, recording each request it serves."""

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> AnyBuffer | None:
        self.gets.append(byte_range)
        if key not in self.data:
            return None
        value = self.data[key]
        start, stop = normalize_byte_range(byte_range, len(value))
        return (prototype or buffer_prototype).buffer.from_bytes(value[start:stop])


def test_a_store_with_only_get_sync_does_not_support_sync_io() -> None:
    store = SyncDictStore()
    assert isinstance(store, SupportsGetSync)
    assert not isinstance(store, SupportsSetSync)
    assert not store_supports_sync_io(store)
    assert not store_supports_sync_io(SlowDictStore())


def test_get_ranges_sync_coalesces_as_get_ranges_plans() -> None:
    store = SyncDictStore()
    store.data["k"] = bytes(range(100))
    requests: list[ByteRequest | None] = [
        RangeByteRequest(0, 10),
        RangeByteRequest(12, 20),  # within the gap of the first: one fetch for both
        RangeByteRequest(90, 95),  # too far: its own fetch
        SuffixByteRequest(3),  # never merged
    ]
    tagged = dict(store.get_ranges_sync("k", requests, prototype=buffer_prototype, max_gap_bytes=4))
    assert sorted(tagged) == [0, 1, 2, 3]
    assert [tagged[i].to_bytes() for i in range(4)] == [  # type: ignore[union-attr]
        bytes(range(10)),
        bytes(range(12, 20)),
        bytes(range(90, 95)),
        bytes(range(97, 100)),
    ]
    assert sorted(store.gets, key=repr) == sorted(
        [RangeByteRequest(0, 20), RangeByteRequest(90, 95), SuffixByteRequest(3)], key=repr
    )


def test_get_ranges_sync_of_a_missing_key_raises_a_group_naming_the_key() -> None:
    store = SyncDictStore()
    with pytest.raises(ExceptionGroup) as info:
        store.get_ranges_sync("gone", [RangeByteRequest(0, 1)], prototype=buffer_prototype)
    assert info.group_contains(FileNotFoundError, match="gone")


def test_get_ranges_sync_checks_key_and_knobs_before_fetching() -> None:
    store = SyncDictStore()
    store.data["k"] = b"abc"
    with pytest.raises(ValueError, match=r"'\.\./k'"):
        store.get_ranges_sync("../k", [None], prototype=buffer_prototype)
    with pytest.raises(TypeError, match="max_gap_bytes"):
        store.get_ranges_sync("k", [None], prototype=buffer_prototype, max_gap_bytes="1")  # type: ignore[arg-type]
    assert store.gets == []


def test_get_ranges_sync_needs_get_sync() -> None:
    store = SlowDictStore()
    with pytest.raises(TypeError, match="SlowDictStore does not support synchronous reads"):
        store.get_ranges_sync("k", [None], prototype=buffer_prototype)


@pytest.mark.parametrize(
    ("method", "args", "message"),
    [
        ("get_sync", (), "does not support synchronous get"),
        ("set_sync", (buf(b"v"),), "does not support synchronous set"),
        ("delete_sync", (), "does not support synchronous delete"),
    ],
)
def test_store_path_sync_methods_refuse_a_store_without_them(
    method: str, args: tuple[Buffer, ...], message: str
) -> None:
    path = StorePath(SlowDictStore(), "k")
    with pytest.raises(TypeError, match=f"Store SlowDictStore {message}"):
        getattr(path, method)(*args)


# --- cancellation (adversarial review, 0.1.7) ----------------------------------------------


class _HeldStore(SlowDictStore):
    """Serves a range starting at 0 at once; holds every other fetch, and every set, until
    cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0
        self.holding = asyncio.Event()

    async def _hold(self) -> None:
        self.held += 1
        self.holding.set()
        try:
            await asyncio.sleep(3600)
        finally:
            self.held -= 1

    async def set(self, key: str, value: AnyBuffer) -> None:
        await self._hold()
        await super().set(key, value)

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> AnyBuffer | None:
        if isinstance(byte_range, RangeByteRequest) and byte_range.start > 0:
            await self._hold()
        return await super().get(key, prototype, byte_range)


@pytest.mark.parametrize("stop", ["aclose", "cancel"])
async def test_get_ranges_stopped_half_way_leaves_no_fetch_running(stop: str) -> None:
    # aclose() after the first batch used to return with the other fetch still running:
    # the inner generator was left to the garbage collector to close later.
    store = _HeldStore()
    store.data["v"] = bytes(100)
    requests = [RangeByteRequest(0, 1), RangeByteRequest(50, 51)]
    ranges = store.get_ranges("v", requests, prototype=buffer_prototype, max_gap_bytes=0)
    assert [i for i, _ in await anext(ranges)] == [0]
    await store.holding.wait()
    if stop == "aclose":
        await ranges.aclose()  # type: ignore[attr-defined]
    else:
        task = asyncio.ensure_future(anext(ranges))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert store.held == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}


@pytest.mark.parametrize("method", ["get_partial_values", "_get_many", "_set_many"])
async def test_batch_defaults_cancelled_half_way_leave_no_fetch_running(method: str) -> None:
    store = _HeldStore()
    store.data.update({f"k{i}": bytes(10) for i in range(20)})
    byte_range = RangeByteRequest(1, 2)  # held

    async def call() -> None:
        if method == "get_partial_values":
            await store.get_partial_values(
                buffer_prototype, [(f"k{i}", byte_range) for i in range(20)]
            )
        elif method == "_get_many":
            _ = [
                x
                async for x in store._get_many(
                    [(f"k{i}", buffer_prototype, byte_range) for i in range(20)]
                )
            ]
        else:
            await store._set_many([(f"k{i}", Buffer.from_bytes(b"x")) for i in range(20)])

    task = asyncio.ensure_future(call())
    await store.holding.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.held == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert all(v == bytes(10) for v in store.data.values()), "a write after the cancel"
