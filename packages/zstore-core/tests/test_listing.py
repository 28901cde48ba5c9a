"""Listing: the async iterator the stores' listings return behaves as an async generator."""

from __future__ import annotations

import asyncio
import contextlib
import doctest
from collections.abc import AsyncIterator

import pytest

from zstore.core import Listing, MemoryStore, _listing


async def collect(listing: AsyncIterator[str]) -> list[str]:
    return [name async for name in listing]


async def test_hands_out_every_name_in_order_then_stops() -> None:
    async def fetch(first: str, count: int) -> list[str]:
        return [f"{first}{i}" for i in range(count)]

    listing = Listing(fetch, "k", 3)
    assert isinstance(listing, AsyncIterator)
    assert aiter(listing) is listing
    assert await collect(listing) == ["k0", "k1", "k2"]
    with pytest.raises(StopAsyncIteration):
        await anext(listing)


async def test_takes_any_iterable_and_an_empty_one() -> None:
    async def fetch(names: tuple[str, ...]) -> tuple[str, ...]:
        return names

    assert await collect(Listing(fetch, ("a", "b"))) == ["a", "b"]
    assert await collect(Listing(fetch, ())) == []


async def test_nothing_runs_before_the_first_anext() -> None:
    calls: list[str] = []

    async def fetch() -> list[str]:
        calls.append("fetched")
        return ["a"]

    listing = Listing(fetch)
    await asyncio.sleep(0)
    assert calls == []
    assert await anext(listing) == "a"
    assert calls == ["fetched"]
    await collect(listing)
    assert calls == ["fetched"], "the names are fetched once"


async def test_an_error_comes_out_of_the_first_anext_and_finishes_the_listing() -> None:
    async def fetch() -> list[str]:
        raise PermissionError("no access to the directory")

    listing = Listing(fetch)
    with pytest.raises(PermissionError, match="no access"):
        await anext(listing)
    with pytest.raises(StopAsyncIteration):
        await anext(listing)


async def test_a_second_anext_while_the_first_fetches_is_refused() -> None:
    release = asyncio.Event()

    async def fetch() -> list[str]:
        await release.wait()
        return ["a", "b"]

    listing = Listing(fetch)
    first = asyncio.ensure_future(anext(listing))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="still fetching its names"):
        await anext(listing)
    release.set()
    assert await first == "a"
    assert await collect(listing) == ["b"]


async def test_aclose_finishes_it_and_aclosing_works() -> None:
    async def fetch() -> list[str]:
        return ["a", "b", "c"]

    listing = Listing(fetch)
    async with contextlib.aclosing(listing):
        assert await anext(listing) == "a"
    assert await collect(listing) == []


async def test_store_listings_are_listings_and_validate_lazily() -> None:
    store = MemoryStore()
    listing = store.list_dir("../outside")  # a bad prefix: nothing raised yet
    assert isinstance(listing, Listing)
    with pytest.raises(ValueError, match=r"'\.\./outside'"):
        await anext(listing)


def test_docstring_example_runs() -> None:
    result = doctest.testmod(_listing)
    assert result.attempted > 0
    assert result.failed == 0
