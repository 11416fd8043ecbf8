"""One request as the mock received it: what dialects read and what ``/_mock/requests`` lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class MockRequest:
    """A received request. ``body`` is the parsed JSON body, or ``None`` (empty or not JSON)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: Any
    raw_body_len: int
    connection: int = 0  # serial number of the TCP connection it came on (1, 2, ...)

    @classmethod
    def parse(
        cls, method: str, target: bytes, headers: dict[str, str], raw_body: bytes, connection: int
    ) -> MockRequest:
        path, _, query = target.decode("latin-1").partition("?")
        body: Any = None
        if raw_body:
            try:
                body = orjson.loads(raw_body)
            except orjson.JSONDecodeError:
                body = None
        return cls(method, path, query, headers, body, len(raw_body), connection)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "raw_body_len": self.raw_body_len,
            "connection": self.connection,
        }
