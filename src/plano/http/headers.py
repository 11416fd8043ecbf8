"""Header names with a meaning for the connection, not the message (RFC 9110 §7.6.1), and the
framing ones: a proxy never forwards them as they came; it frames what it sends itself."""

from __future__ import annotations

from typing import Final

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
FRAMING: Final = frozenset({b"content-length", b"transfer-encoding"})
