"""Header names with a meaning for the connection, not the message (RFC 9110 §7.6.1), and the
framing ones: a proxy never forwards them as they came; it frames what it sends itself. Besides
the standard set, the headers a client's `Connection` header names are hop-by-hop for that request
(`connection_named`), and the client's cookies (`NOT_PROXIED`) belong to the gateway's origin,
not to the upstream's."""

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
NOT_PROXIED: Final = frozenset({b"cookie"})


def connection_named(value: bytes) -> frozenset[bytes]:
    """The header names a `Connection` header's value lists, lower-case (`keep-alive, x-secret`
    -> {keep-alive, x-secret}); each of them is hop-by-hop for the request that carries it."""
    return frozenset(n for t in value.split(b",") if (n := t.strip().lower()))
