"""Reading a request head: the request target, Transfer-Encoding, the socket addresses, and the
exception a parser callback raises to answer a malformed request and close."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import httptools


class Reject(Exception):
    """Raised in a parser callback: answer with `status` and close."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None


def split_absolute(url: bytes) -> tuple[bytes, bytes]:
    try:  # absolute-form (`http://host/p?q`) or `*`
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        return url, b""
    return parsed.path or b"/", parsed.query or b""


def chunked_only(values: list[bytes]) -> bool:
    """Transfer-Encoding says exactly `chunked` (any case, blanks and empty list items aside)."""
    codings = [c.strip().lower() for c in b",".join(values).split(b",")]
    return [c for c in codings if c] == [b"chunked"]


def decode_path(raw_path: bytes) -> str:
    """Percent-escapes and UTF-8 decoded, as ASGI wants `path` (the rare, slow case)."""
    return unquote(raw_path.decode("utf-8", "replace"))
