"""L0: sans-I/O framing codecs (no sockets, no asyncio)."""

from plano.codec.sse import DONE, SseDecoder, SseEvent, encode_event

__all__ = ["DONE", "SseDecoder", "SseEvent", "encode_event"]
