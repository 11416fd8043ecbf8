"""The load generator: wrk, one thread, a Lua script that POSTs a realistic chat body."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import orjson

MODEL: Final = "openai/gpt-4o"
PATH: Final = "/v1/chat/completions"
WRK_TIMEOUT: Final = "10s"  # wrk's default (2 s) silently drops slow requests from its statistics

SYSTEM_PROMPT: Final = (
    "You are a concise assistant for an online hardware store. Answer in plain English, at most "
    "three sentences, and never invent stock levels, prices or delivery dates: when you do not "
    "know, say so and suggest contacting support."
)
USER_PROMPT: Final = (
    "Hi! I ordered a cordless drill last Tuesday (order 48213) and the tracking page still says "
    "'label created'. Is that normal, and how long does shipping to Lyon usually take? I need it "
    "before the weekend for a small kitchen job."
)


# A support conversation's earlier turns (user, assistant), for `chat_body(turns=N)`: N - 1 of
# them, cycled, precede the final user message.
EARLIER_TURNS: Final = (
    ("Do you sell replacement batteries for the drill I bought?",
     "Yes: the 18 V pack fits every drill of that range; it is listed under accessories."),
    ("How long does a full charge take with the standard charger?",
     "About an hour with the standard charger, and roughly 35 minutes with the fast one."),
    ("Can I return the charger if I buy the fast one instead?",
     "Unopened items can be returned within 30 days; the support team arranges the pickup."),
    ("Is the fast charger compatible with the older 14 V packs as well?",
     "It is not: the 14 V packs need the charger that came with them."),
    ("What about the warranty on the drill itself, is it two years?",
     "The drill has a three-year warranty once registered on the brand's site."),
)  # fmt: skip


def chat_body(stream: bool, turns: int = 1) -> bytes:
    """A chat request of about 600 bytes: a system and a user message plus common options;
    with `turns` > 1, a conversation of that many user turns (the earlier ones answered)."""
    earlier: list[dict[str, str]] = []
    for i in range(max(turns, 1) - 1):
        question, answer = EARLIER_TURNS[i % len(EARLIER_TURNS)]
        earlier.append({"role": "user", "content": question})
        earlier.append({"role": "assistant", "content": answer})
    body: dict[str, object] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            *earlier,
            {"role": "user", "content": USER_PROMPT},
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "user": "bench-user-0001",
    }
    if stream:
        body["stream"] = True
        if os.environ.get("PLANO_BENCH_INCLUDE_USAGE") == "1":  # the client asks for usage
            body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


def write_lua(directory: Path, stream: bool, turns: int = 1, vary: bool = False) -> Path:
    """A wrk script posting the chat body; with `vary`, every request's last user message ends
    in a number of its own (the same history, another last message: a sibling of the previous
    request), numbered from the wall clock so later runs do not repeat earlier ones."""
    body = chat_body(stream, turns).decode()
    if "]==]" in body:
        raise ValueError("body cannot be embedded in a Lua long string")
    script = (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer client-key"\n'
        f"wrk.body = [==[{body}]==]\n"
    )
    if vary:
        last = USER_PROMPT.rsplit(" ", 1)[-1]
        head, tail = body.rsplit(last, 1)
        script += (
            f"local head, tail = [==[{head}{last} (take ]==], [==[){tail}]==]\n"
            "local n = os.time() % 100000 * 100000\n"  # < 2^53 and printed in full
            "request = function()\n"
            "  n = n + 1\n"
            "  return wrk.format(nil, nil, nil, head .. n .. tail)\n"
            "end\n"
        )
    path = directory / ("stream.lua" if stream else "non_stream.lua")
    path.write_text(script)
    return path


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass(slots=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors + timeouts + non-2xx responses
    cpu_s: float  # CPU time wrk itself used
    output: str


_UNIT_MS: Final = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_PCT = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


class WrkError(RuntimeError):
    pass


def parse(output: str, cpu_s: float = 0.0) -> WrkResult:
    rps = _RPS.search(output)
    requests = _REQUESTS.search(output)
    pcts = {m.group(1): float(m.group(2)) * _UNIT_MS[m.group(3)] for m in _PCT.finditer(output)}
    if rps is None or requests is None or "50" not in pcts or "99" not in pcts:
        raise WrkError(f"cannot parse wrk output:\n{output}")
    errors = 0
    if socket_errors := _SOCKET.search(output):
        errors += sum(int(g) for g in socket_errors.groups())
    if non2xx := _NON2XX.search(output):
        errors += int(non2xx.group(1))
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=pcts["50"],
        p99_ms=pcts["99"],
        requests=int(requests.group(1)),
        errors=errors,
        cpu_s=cpu_s,
        output=output,
    )


def run(url: str, script: Path, connections: int, seconds: float, core: int) -> WrkResult:
    """Run wrk pinned to `core` against `url` and parse its report."""
    cmd = [
        "taskset", "-c", str(core),
        "wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s",
        "--latency", "--timeout", WRK_TIMEOUT, "-s", str(script), url,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr or done.stdout}")
    return parse(done.stdout, cpu)
