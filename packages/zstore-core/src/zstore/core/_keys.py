"""The one key validator and the one prefix normaliser that every store uses.

Keys are ``/``-separated relative paths inside a store. Keeping the rule in one function
means a LocalStore, a ZipStore and a MemoryStore agree on which keys exist, and no spelling
of a key (``../x``, ``/etc/passwd``, ``a\\b``) can reach outside a store's root.
"""

from __future__ import annotations

__all__ = ["normalize_prefix", "validate_key"]

_RELATIVE = "keys are relative paths inside the store"


def _problem(text: str) -> str | None:
    """Say what is wrong with ``text`` as a ``/``-separated relative path, or None if nothing.

    Shared by :func:`validate_key` and :func:`normalize_prefix` so keys and prefixes obey
    exactly the same segment rules.
    """
    if text == "":
        return "is empty"
    if "\x00" in text:
        return "contains a NUL character"
    if "\\" in text:
        return "contains a backslash; use '/' to separate segments"
    if text.startswith("/"):
        return f"starts with '/'; {_RELATIVE}"
    for segment in text.split("/"):
        if segment == "":
            return f"has an empty segment ('//' or a trailing '/'); {_RELATIVE}"
        if segment in (".", ".."):
            return f"has a {segment!r} segment; {_RELATIVE}"
    return None


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a valid store key, else raise naming the key.

    A valid key is a non-empty ``/``-separated relative path: no leading ``/``, no empty
    segment (so no ``//`` and no trailing ``/``), no ``.`` or ``..`` segment, no backslash
    and no NUL character.

    Parameters
    ----------
    key : str
        The key to check.

    Returns
    -------
    str
        ``key`` itself, so callers can write ``key = validate_key(key)``; for an instance
        of a str subclass, the plain str of its characters, which is what was checked.

    Raises
    ------
    TypeError
        If ``key`` is not a str.
    ValueError
        If ``key`` breaks one of the rules above; the message names the key and the rule.

    Examples
    --------
    >>> validate_key("a/b/c")
    'a/b/c'
    >>> validate_key("../x")
    Traceback (most recent call last):
    ...
    ValueError: key '../x' has a '..' segment; keys are relative paths inside the store
    """
    if type(key) is not str:
        if isinstance(key, str):
            # A str subclass (numpy's str_, or one overriding __contains__, split or
            # startswith, which the checks below rely on) is checked, and stored, as the
            # plain str of its characters.
            return validate_key(str.__str__(key))
        raise TypeError(f"key must be a str, got {type(key).__name__}: {key!r}")
    # Fast path, since every store calls this on every key: substring tests are much
    # cheaper than splitting. A '.' or '..' segment starts the key or follows a '/'.
    if (
        key
        and key[0] not in "/."
        and key[-1] != "/"
        and "//" not in key
        and "/." not in key
        and "\\" not in key
        and "\x00" not in key
    ):
        return key
    problem = _problem(key)
    if problem is not None:
        raise ValueError(f"key {key!r} {problem}")
    return key


def _plain_prefix(prefix: str) -> str:
    """``prefix`` as a plain str (see :func:`validate_key` on str subclasses), or raise."""
    if type(prefix) is str:
        return prefix
    if isinstance(prefix, str):
        return str.__str__(prefix)
    raise TypeError(f"prefix must be a str, got {type(prefix).__name__}: {prefix!r}")


def normalize_prefix(prefix: str) -> str:
    """Return the directory form of ``prefix``: ``""`` for the root, else ``"a/b/"``.

    ``list_dir``, ``delete_dir``, ``is_empty`` and ``getsize_prefix`` treat their prefix as a
    directory, so ``"foo"`` and ``"foo/"`` both mean the directory ``foo/`` and never match
    ``foo-bar/...``. ``list_prefix`` does NOT use this: it is a plain string prefix match,
    as in zarr-python.

    Parameters
    ----------
    prefix : str
        ``""`` or ``"/"`` for the root; otherwise a relative path with at most one trailing
        ``/``, whose segments obey the same rules as keys (see :func:`validate_key`).

    Returns
    -------
    str
        ``""`` for the root, otherwise the prefix with exactly one trailing ``/``.

    Raises
    ------
    TypeError
        If ``prefix`` is not a str.
    ValueError
        If a segment of ``prefix`` breaks a key rule; the message names the prefix.

    Examples
    --------
    >>> normalize_prefix("a/b")
    'a/b/'
    >>> normalize_prefix("a/b/")
    'a/b/'
    >>> normalize_prefix("/")
    ''
    """
    prefix = _plain_prefix(prefix)
    if prefix in ("", "/"):
        return ""
    body = prefix[:-1] if prefix.endswith("/") else prefix
    problem = _problem(body)
    if problem is not None:
        raise ValueError(f"prefix {prefix!r} {problem}")
    return body + "/"
