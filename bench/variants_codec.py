"""Codec work alone (no I/O) per request, for every translated variant of bench/variants_table.py.

    python bench/variants_codec.py [--repeat 1000] [--chunks 20]

The fake upstream (`plano mock-llm`) is started once to record its exact wire bytes per dialect;
then, in this process (CPU time, the best of 5 runs of `--repeat`): the request side (client
document decoded to the IR, upstream body encoded), the whole response decoded and re-encoded,
and the stream decoded and re-encoded twice: one event per chunk (a slow upstream) and the whole
stream in one chunk (what a fast local upstream's single read delivers). The passthrough's usage
scan over the same upstream stream is printed for comparison. Compare source trees by running it
with another PYTHONPATH.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson

import procs
import targets
import variants_table as vt
from plano.listeners.model import translation
from plano.observability.usage import StreamUsage
from plano.wire.api import Api

API = {
    vt.CHAT_PATH: Api.OPENAI_CHAT,
    vt.MESSAGES_PATH: Api.ANTHROPIC_MESSAGES,
    vt.RESPONSES_PATH: Api.OPENAI_RESPONSES,
}


def fetch(port: int, path: str, stream: bool) -> bytes:
    body = vt.BODY_BY_PATH[path]("gpt-4o", stream)
    headers = {"content-type": "application/json", "x-api-key": "k", "authorization": "Bearer k"}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers)
    with urllib.request.urlopen(req) as resp:
        data: bytes = resp.read()
    return data


def best_us(fn: Callable[[], object], repeat: int) -> float:
    """The best of 5 runs of `repeat` calls, in CPU µs per call."""
    fn()
    runs = []
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(repeat):
            fn()
        runs.append((time.process_time() - t0) / repeat * 1e6)
    return min(runs)


def stream_fn(tr: translation.Translation, chunks: list[bytes]) -> Callable[[], None]:
    def run() -> None:
        dec, enc = tr.upstream.stream_decoder(), tr.client.stream_encoder(tr.request)
        if hasattr(dec, "runs"):  # as the gateway reads them (trees before runs lack it)
            dec.runs = True
        for chunk in chunks:
            events = dec.feed(chunk)
            if events:
                enc.encode(events)
        enc.encode(dec.close())

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plano-codec-") as tmp:
        upstream, port = targets.start_upstream(Path(tmp), args.chunks, None)
        try:
            wire = {
                (path, stream): fetch(port, path, stream)
                for path in API
                for stream in (False, True)
            }
        finally:
            procs.stop(upstream)
    print(f"CPU µs per request, best of 5 x {args.repeat}; {args.chunks} chunks per stream")
    print(f"{'variant':<22}{'request':>9}{'whole':>8}{'stream/ev':>10}{'stream/1':>9}{'scan':>7}")
    for v in vt.VARIANTS:
        if not v.passthrough:
            got = row(v, wire, args.repeat)
            cells = "".join(f"{us:{w}.1f}" for us, w in zip(got, WIDTHS, strict=True))
            print(f"{v.name:<22}{cells}")


WIDTHS = (9, 8, 10, 9, 7)


def row(v: vt.Variant, wire: dict[tuple[str, bool], bytes], repeat: int) -> list[float]:
    """Request side, whole response, stream (event per chunk, one chunk), passthrough scan."""
    client, upstream_api = API[v.path], API[v.upstream_path]
    doc = v.client_body(True)
    tr = translation.prepare(client, upstream_api, orjson.loads(doc))

    def request() -> None:
        fresh = translation.prepare(client, upstream_api, orjson.loads(doc))
        translation.encode(fresh, "gpt-4o", "p", "http://u", [], None)

    data = wire[v.upstream_path, False]

    def whole() -> None:
        tr.client.encode_response(tr.upstream.parse_response(orjson.loads(data)))

    stream = wire[v.upstream_path, True]
    events = [e + b"\n\n" for e in stream.split(b"\n\n") if e]

    def scan() -> None:
        usage = StreamUsage()
        for event in events:
            usage.feed(event)

    fns = (request, whole, stream_fn(tr, events), stream_fn(tr, [stream]), scan)
    return [best_us(fn, repeat) for fn in fns]


if __name__ == "__main__":
    main()
