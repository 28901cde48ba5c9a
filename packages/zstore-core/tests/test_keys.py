"""The key and prefix rules shared by every store (DESIGN.md section 2)."""

from __future__ import annotations

import pytest

from zstore.core import normalize_prefix, validate_key

GOOD_KEYS = [
    "a",
    "zarr.json",
    ".zattrs",
    "a/.zarray",
    "a/b/c",
    "c/0/0",
    "a.b/c..d",
    "...",
    "foo-bar/x",
    "ünïcödé/ключ",
    "a b/c d",
]

BAD_KEYS = [
    ("", "is empty"),
    ("/a", "starts with '/'"),
    ("/", "starts with '/'"),
    ("a/", "empty segment"),
    ("a//b", "empty segment"),
    ("//a", "starts with '/'"),
    (".", "'.' segment"),
    ("..", "'..' segment"),
    ("./a", "'.' segment"),
    ("a/.", "'.' segment"),
    ("a/./b", "'.' segment"),
    ("../x", "'..' segment"),
    ("a/../b", "'..' segment"),
    ("a/..", "'..' segment"),
    ("a\\b", "backslash"),
    ("..\\x", "backslash"),
    ("a\x00b", "NUL"),
    ("\x00", "NUL"),
]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_valid_keys_are_returned_unchanged(key: str) -> None:
    assert validate_key(key) is key


@pytest.mark.parametrize(("key", "reason"), BAD_KEYS)
def test_every_bad_key_is_rejected_naming_the_key(key: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_key(key)
    message = str(info.value)
    assert repr(key) in message, message
    assert reason in message, message


def test_dotdot_message_matches_the_style_guide() -> None:
    with pytest.raises(ValueError) as info:
        validate_key("../x")
    assert str(info.value) == (
        "key '../x' has a '..' segment; keys are relative paths inside the store"
    )


@pytest.mark.parametrize("key", [None, b"a", 1, ["a"]])
def test_non_str_key_is_a_type_error(key: object) -> None:
    with pytest.raises(TypeError, match="key must be a str"):
        validate_key(key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", ""),
        ("/", ""),
        ("a", "a/"),
        ("a/", "a/"),
        ("a/b", "a/b/"),
        ("a/b/", "a/b/"),
        ("foo", "foo/"),
        (".zgroup.d", ".zgroup.d/"),
    ],
)
def test_normalize_prefix_gives_the_directory_form(prefix: str, expected: str) -> None:
    assert normalize_prefix(prefix) == expected


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        ("//", "starts with '/'"),
        ("a//", "empty segment"),
        ("a//b", "empty segment"),
        ("/a", "starts with '/'"),
        ("..", "'..' segment"),
        ("../", "'..' segment"),
        ("a/../b", "'..' segment"),
        ("./", "'.' segment"),
        ("a\\b", "backslash"),
        ("a\x00", "NUL"),
    ],
)
def test_bad_prefixes_are_rejected_naming_the_prefix(prefix: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_prefix(prefix)
    message = str(info.value)
    assert f"prefix {prefix!r}" in message, message
    assert reason in message, message


def test_normalize_prefix_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="prefix must be a str"):
        normalize_prefix(None)  # type: ignore[arg-type]


def test_a_directory_prefix_never_matches_a_sibling_with_a_longer_name() -> None:
    directory = normalize_prefix("foo")
    assert not "foo-bar/x".startswith(directory)
    assert "foo/x".startswith(directory)
