"""A fast OTLP/protobuf encoder for finished SDK spans (`ReadableSpan`).

The SDK's own encoder builds one protobuf message object per span, attribute and value and costs
about 45 µs per span on the reference machine; the batch exporter runs it in a thread that holds
the GIL, so at 100% sampling it would take a third of a gateway worker's CPU. This writes the same
`ExportTraceServiceRequest` bytes directly (protobuf wire format: varints and length-delimited
fields, key prefixes cached), for about a tenth of the cost. `tests/.../test_otlp_encoding.py`
checks it against the SDK's encoder message for message.

One difference, on purpose and like the original Plano's exporter: a span carrying the attribute
`service.name.override` is exported under a resource whose `service.name` is that value, so trace
viewers show `plano(llm)`, `plano(routing)`... as services.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

_SMALL: Final = tuple(bytes((n,)) for n in range(128))
_MASK64: Final = (1 << 64) - 1
_FLAGS_HAS_IS_REMOTE: Final = 0x100
_FLAGS_IS_REMOTE: Final = 0x200
_KIND: Final = {
    SpanKind.INTERNAL: b"\x30\x01",
    SpanKind.SERVER: b"\x30\x02",
    SpanKind.CLIENT: b"\x30\x03",
    SpanKind.PRODUCER: b"\x30\x04",
    SpanKind.CONSUMER: b"\x30\x05",
}
_KEY_CACHE_LIMIT: Final = 4096
SPAN_ATTRIBUTE: Final = b"\x4a"  # `Span.attributes` (field 9)
# `value` field of a KeyValue holding a short string / a small int: tag, length, AnyValue header.
_STR_HEAD: Final = tuple(bytes((0x12, n + 2, 0x0A, n)) for n in range(126))
_INT_SMALL: Final = tuple(bytes((0x12, 0x02, 0x18, n)) for n in range(128))
_pack_fixed64 = struct.Struct("<Q").pack
_pack_double = struct.Struct("<d").pack
_pack_fixed32 = struct.Struct("<I").pack
_pack_double = struct.Struct("<d").pack
# `start_time_unix_nano` and `end_time_unix_nano` of a `Span`: pack_times(0x39, start, 0x41, end).
pack_times = struct.Struct("<BQBQ").pack
_FLAGS: Final = b"\x85\x01" + _pack_fixed32(_FLAGS_HAS_IS_REMOTE)
_FLAGS_REMOTE_PARENT: Final = b"\x85\x01" + _pack_fixed32(_FLAGS_HAS_IS_REMOTE | _FLAGS_IS_REMOTE)


def varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if n < 0x200000:
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    n = len(payload)
    return tag + (_SMALL[n] if n < 0x80 else varint(n)) + payload


def _string(tag: bytes, value: str) -> bytes:
    return _field(tag, value.encode()) if value else b""


def _any_value(value: Any) -> bytes:
    """An `AnyValue` message body (without its own tag and length)."""
    if isinstance(value, str):
        return _field(b"\x0a", value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + varint(value & _MASK64)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if value is None:
        return b""
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        pairs = [
            _field(b"\x0a", _field(b"\x0a", str(k).encode()) + _field(b"\x12", _any_value(v)))
            for k, v in value.items()
        ]
        return _field(b"\x32", b"".join(pairs))
    raise TypeError(f"cannot encode attribute value of type {type(value).__name__}")


def key_field(key: str) -> bytes:
    """The `key` field of a `KeyValue` (for the `*_attribute` functions below)."""
    return _field(b"\x0a", key.encode())


# One attribute (a `KeyValue`; by default in field 9 of `Span`) of a known type, for keys of less
# than about 100 bytes: the request spans' per-request values are encoded with these directly, and
# `OtlpEncoder.attributes` uses them for str, int and float values.
def int_attribute(key: bytes, value: int, tag: bytes = SPAN_ATTRIBUTE) -> bytes:
    if 0 <= value < 0x80:
        kv = key + _INT_SMALL[value]
    elif 0 < value < 0x4000:
        kv = key + b"\x12\x03\x18" + bytes(((value & 0x7F) | 0x80, value >> 7))
    else:
        raw = varint(value & _MASK64)
        kv = key + b"\x12" + _SMALL[len(raw) + 1] + b"\x18" + raw
    n = len(kv)
    return tag + (_SMALL[n] if n < 0x80 else varint(n)) + kv


def float_attribute(key: bytes, value: float, tag: bytes = SPAN_ATTRIBUTE) -> bytes:
    kv = key + b"\x12\x09\x21" + _pack_double(value)
    n = len(kv)
    return tag + (_SMALL[n] if n < 0x80 else varint(n)) + kv


def str_attribute(key: bytes, value: str, tag: bytes = SPAN_ATTRIBUTE) -> bytes:
    raw = value.encode()
    n = len(raw)
    kv = key + (_STR_HEAD[n] + raw if n < 126 else _field(b"\x12", _field(b"\x0a", raw)))
    n = len(kv)
    return tag + (_SMALL[n] if n < 0x80 else varint(n)) + kv


_BYTE: Final = tuple(bytes((n,)) for n in range(256))  # _BYTE[n] == bytes((n,))
_STR_PREFIXES_LIMIT: Final = 126


class AttributeKey:
    """A span attribute key (field 9 of `Span`) with its encodings prepared once, for the request
    span's per-request values: each `put_*` appends the attribute's pieces to a list of parts that
    is joined once per span, which costs a third of building each attribute's bytes
    (`int_attribute`...). Values outside the prepared forms fall back to those functions."""

    __slots__ = ("_double", "_int1", "_int2", "_strs", "_tag", "key")

    def __init__(self, name: str, tag: bytes = SPAN_ATTRIBUTE) -> None:
        """`tag`: the field holding the attribute (default `Span.attributes`)."""
        key = key_field(name)
        self.key = key
        self._tag = tag
        # A KeyValue: key, then `value` (tag 0x12, length, AnyValue: tag, value).
        # What precedes an int value of 1 varint byte (0 <= value < 0x80) or of 2 (< 0x4000).
        self._int1 = tag + varint(len(key) + 4) + key + b"\x12\x02\x18"
        self._int2 = tag + varint(len(key) + 5) + key + b"\x12\x03\x18"
        self._double = tag + varint(len(key) + 11) + key + b"\x12\x09\x21"
        self._strs: dict[int, bytes] = {}  # by encoded length (< 126 bytes)

    @property
    def double_prefix(self) -> bytes:
        """What precedes the 8 bytes of a double value (for callers packing it with others)."""
        return self._double

    def put_int(self, parts: list[bytes], value: int) -> None:
        if 0 <= value < 0x80:
            parts += (self._int1, _BYTE[value])
        elif 0x80 <= value < 0x4000:
            parts += (self._int2, _BYTE[(value & 0x7F) | 0x80], _BYTE[value >> 7])
        else:
            parts.append(int_attribute(self.key, value, self._tag))

    def put_double(self, parts: list[bytes], value: float) -> None:
        parts += (self._double, _pack_double(value))

    def put_str(self, parts: list[bytes], value: str) -> None:
        raw = value.encode()
        size = len(raw)
        prefix = self._strs.get(size)
        if prefix is None:
            if size >= _STR_PREFIXES_LIMIT:
                parts.append(str_attribute(self.key, value, self._tag))
                return
            kv_size = len(self.key) + size + 4
            prefix = self._tag + varint(kv_size) + self.key + _STR_HEAD[size]
            self._strs[size] = prefix
        parts += (prefix, raw)


def event_prefix(name: str) -> bytes:
    """The `name` field of an `Event` (for `event_field`)."""
    return _string(b"\x12", name)


def event_field(name_field: bytes, timestamp: int, attributes: bytes) -> bytes:
    """An `Event` field of a `Span`: `name_field` from `event_prefix`, `attributes` encoded
    with the `Event.attributes` tag (b"\x1a")."""
    body = b"\x09" + _pack_fixed64(timestamp) + name_field + attributes
    return _field(b"\x5a", body)


def span_ids(trace_id: int, span_id: int, trace_state: str, parent_id: int) -> bytes:
    """The `trace_id`, `span_id`, `trace_state` and `parent_span_id` fields of a `Span`."""
    head = b"\x0a\x10" + trace_id.to_bytes(16, "big") + b"\x12\x08" + span_id.to_bytes(8, "big")
    if trace_state:
        head += _string(b"\x1a", trace_state)
    if parent_id:
        head += b"\x22\x08" + parent_id.to_bytes(8, "big")
    return head


def name_and_kind(name: str, kind: SpanKind) -> bytes:
    return _string(b"\x2a", name) + _KIND[kind]


def status_field(code: int, message: str) -> bytes:
    if not (code or message):
        return b"\x7a\x00"
    body = _string(b"\x12", message)
    if code:
        body += b"\x18" + varint(code)
    return _field(b"\x7a", body)


def span_flags(remote_parent: bool) -> bytes:
    """The `flags` field: "has is_remote", plus "is_remote" when the parent is remote."""
    return _FLAGS_REMOTE_PARENT if remote_parent else _FLAGS


class OtlpEncoder:
    """Encodes batches of spans into `ExportTraceServiceRequest` bytes. Not thread-safe: one
    encoder per exporter (the batch processor calls its exporter from one thread)."""

    def __init__(self, override_key: str | None = "service.name.override") -> None:
        self._override_key = override_key
        self._keys: dict[str, bytes] = {}
        self._resources: dict[tuple[int, str | None], tuple[Resource, bytes]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope | None, bytes]] = {}

    # -- attributes -----------------------------------------------------------------------------

    def _key(self, key: str) -> bytes:
        prefix = self._keys.get(key)
        if prefix is None:
            prefix = key_field(key)
            if len(self._keys) < _KEY_CACHE_LIMIT:
                self._keys[key] = prefix
        return prefix

    def attributes(self, tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
        """Each attribute as a repeated `KeyValue` field with the given tag (keys' encodings
        are cached; what requests alike share is cached a level up, in `otel_spans`)."""
        if not attributes:
            return b""
        keys = self._keys
        out: list[bytes] = []
        append = out.append
        for key, value in attributes.items():
            prefix = keys.get(key)
            if prefix is None:
                prefix = self._key(key)
            cls = value.__class__
            if cls is str:
                append(str_attribute(prefix, value, tag))
            elif cls is int:
                append(int_attribute(prefix, value, tag))
            elif cls is float:
                append(float_attribute(prefix, value, tag))
            else:
                kv = prefix + _field(b"\x12", _any_value(value))
                n = len(kv)
                append(tag + (_SMALL[n] if n < 0x80 else varint(n)) + kv)
        return b"".join(out)

    # -- spans ----------------------------------------------------------------------------------

    def span(self, span: ReadableSpan) -> bytes:
        """A `Span` message body from a finished SDK span."""
        ctx, parent, status = span.get_span_context(), span.parent, span.status
        assert ctx is not None  # a finished SDK span always has one
        links = [
            self._link(link.context, link.attributes, link.dropped_attributes)
            for link in span.links
        ]
        return self.span_fields(
            ctx.trace_id,
            ctx.span_id,
            parent.span_id if parent is not None else 0,
            parent is not None and parent.is_remote,
            ",".join(f"{k}={v}" for k, v in ctx.trace_state.items()) if ctx.trace_state else "",
            span.name,
            span.kind,
            span.start_time or 0,
            span.end_time or 0,
            span.attributes,
            [(e.name, e.timestamp, e.attributes, e.dropped_attributes) for e in span.events],
            status.status_code.value,
            status.description or "",
            links=links,
            dropped=(span.dropped_attributes, span.dropped_events, span.dropped_links),
        )

    def span_fields(
        self,
        trace_id: int,
        span_id: int,
        parent_id: int,
        parent_remote: bool,
        trace_state: str,
        name: str,
        kind: SpanKind,
        start: int,
        end: int,
        attributes: Mapping[str, Any] | None,
        events: Sequence[tuple[str, int, Mapping[str, Any] | None, int]] = (),
        status_code: int = 0,
        status_message: str = "",
        *,
        links: Sequence[bytes] = (),
        dropped: tuple[int, int, int] = (0, 0, 0),
    ) -> bytes:
        """A `Span` message body from plain fields (`parent_id` 0: no parent; `events` as
        (name, time, attributes, dropped attributes); `links` already encoded)."""
        parts = [
            span_ids(trace_id, span_id, trace_state, parent_id),
            name_and_kind(name, kind),
            pack_times(0x39, start, 0x41, end),
            self.attributes(SPAN_ATTRIBUTE, attributes),
        ]
        dropped_attributes, dropped_events, dropped_links = dropped
        if dropped_attributes:
            parts.append(b"\x50" + varint(dropped_attributes))
        for event_name, timestamp, event_attributes, event_dropped in events:
            parts.append(self.event(event_name, timestamp, event_attributes, event_dropped))
        if dropped_events:
            parts.append(b"\x60" + varint(dropped_events))
        for link in links:
            parts.append(_field(b"\x6a", link))
        if dropped_links:
            parts.append(b"\x70" + varint(dropped_links))
        parts.append(status_field(status_code, status_message))
        parts.append(_FLAGS_REMOTE_PARENT if parent_id and parent_remote else _FLAGS)
        return b"".join(parts)

    def event(
        self, name: str, timestamp: int, attributes: Mapping[str, Any] | None, dropped: int = 0
    ) -> bytes:
        """An `Event` field of a `Span`."""
        body = [b"\x09" + _pack_fixed64(timestamp), _string(b"\x12", name)]
        body.append(self.attributes(b"\x1a", attributes))
        if dropped:
            body.append(b"\x20" + varint(dropped))
        return _field(b"\x5a", b"".join(body))

    def _link(self, ctx: SpanContext, attributes: Mapping[str, Any] | None, dropped: int) -> bytes:
        flags = _FLAGS_HAS_IS_REMOTE | (_FLAGS_IS_REMOTE if ctx.is_remote else 0)
        parts = [
            b"\x0a\x10" + ctx.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + ctx.span_id.to_bytes(8, "big"),
        ]
        parts.append(self.attributes(b"\x22", attributes))
        if dropped:
            parts.append(b"\x28" + varint(dropped))
        parts.append(b"\x35" + _pack_fixed32(flags))
        return b"".join(parts)

    # -- resources and scopes -------------------------------------------------------------------

    def _resource(self, resource: Resource, service: str | None) -> bytes:
        """`Resource` message body, with `service.name` replaced by `service` when given."""
        cache_key = (id(resource), service)
        cached = self._resources.get(cache_key)
        if cached is not None and cached[0] is resource:
            return cached[1]
        attrs = dict(resource.attributes)
        if service is not None:
            attrs["service.name"] = service
        encoded = self.attributes(b"\x0a", attrs)
        if len(self._resources) < _KEY_CACHE_LIMIT:
            self._resources[cache_key] = (resource, encoded)
        return encoded

    def _scope(self, scope: InstrumentationScope | None) -> bytes:
        cached = self._scopes.get(id(scope))
        if cached is not None and cached[0] is scope:
            return cached[1]
        if scope is None:
            encoded = b""
        else:
            encoded = _string(b"\x0a", scope.name) + _string(b"\x12", scope.version or "")
            encoded += self.attributes(b"\x1a", scope.attributes)
        if len(self._scopes) < _KEY_CACHE_LIMIT:
            self._scopes[id(scope)] = (scope, encoded)
        return encoded

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """An `ExportTraceServiceRequest`, spans grouped by resource (and service override),
        then by instrumentation scope, in first-seen order like the SDK's encoder."""
        Scoped = tuple[InstrumentationScope | None, list[bytes]]
        groups: dict[tuple[int, str | None], tuple[Resource, dict[int, Scoped]]] = {}
        key_name = self._override_key
        for span in spans:
            resource, attrs, scope = span.resource, span.attributes, span.instrumentation_scope
            override = attrs.get(key_name) if attrs and key_name else None
            service = override if isinstance(override, str) else None
            group = groups.get((id(resource), service))
            if group is None:
                group = groups[(id(resource), service)] = (resource, {})
            by_scope = group[1].get(id(scope))
            if by_scope is None:
                by_scope = group[1][id(scope)] = (scope, [])
            by_scope[1].append(_field(b"\x12", self.span(span)))
        out: list[bytes] = []
        for (_, service), (resource, scopes) in groups.items():
            body = [_field(b"\x0a", self._resource(resource, service))]
            for scope, encoded_spans in scopes.values():
                scope_body = _field(b"\x0a", self._scope(scope)) + b"".join(encoded_spans)
                if scope is not None and scope.schema_url:
                    scope_body += _string(b"\x1a", scope.schema_url)
                body.append(_field(b"\x12", scope_body))
            if resource.schema_url:
                body.append(_string(b"\x1a", resource.schema_url))
            out.append(_field(b"\x0a", b"".join(body)))
        return b"".join(out)

    def encode_batch(
        self,
        resource: Resource,
        scope: InstrumentationScope | None,
        spans: Sequence[tuple[str | None, bytes]],
    ) -> bytes:
        """An `ExportTraceServiceRequest` from `Span` bodies already encoded (`span_fields`),
        each with its service (None: the resource's own), grouped by service in first-seen
        order."""
        by_service: dict[str | None, list[bytes]] = {}
        for service, body in spans:
            encoded = by_service.get(service)
            if encoded is None:
                encoded = by_service[service] = []
            n = len(body)
            encoded.append(b"\x12" + _SMALL[n] if n < 0x80 else b"\x12" + varint(n))
            encoded.append(body)
        scope_head = _field(b"\x0a", self._scope(scope))
        scope_tail = _string(b"\x1a", scope.schema_url) if scope and scope.schema_url else b""
        resource_tail = _string(b"\x1a", resource.schema_url) if resource.schema_url else b""
        # Lengths are added up first so that the spans are copied once, into the request.
        out: list[bytes] = []
        for service, encoded in by_service.items():
            spans_size = len(scope_head) + sum(map(len, encoded)) + len(scope_tail)
            resource_field = _field(b"\x0a", self._resource(resource, service))
            scope_spans_head = b"\x12" + varint(spans_size)
            size = len(resource_field) + len(scope_spans_head) + spans_size + len(resource_tail)
            out.append(b"\x0a" + varint(size) + resource_field + scope_spans_head + scope_head)
            out.extend(encoded)
            out.append(scope_tail + resource_tail)
        return b"".join(out)
