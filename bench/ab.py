"""What a feature costs the gateway, measured side by side: variants share core 0 at once.

    python bench/ab.py tracing     [--rounds 12] [--duration 3] [--stream]
    python bench/ab.py resilience  [--rounds 12] [--duration 3] [--stream]
    python bench/ab.py cost        [--rounds 12] [--duration 3] [--stream]
    python bench/ab.py tls         [--rounds 12] [--duration 3] [--stream]
    python bench/ab.py pii         [--rounds 12] [--duration 3] [--stream]
    python bench/ab.py signals     [--rounds 12] [--duration 3] [--stream] [--conversation 10]
                                   [--vary]
    python bench/ab.py tree --base-src OTHER/src   [--rounds 12] [--duration 3] [--stream]
                                   [--this-src DIR]
                                   [--connections 32]
    python bench/ab.py keys        [--rounds 12] [--duration 3] [--stream]
    python bench/ab.py keys-pg     [--rounds 12] [--duration 3] [--stream]
    python bench/ab.py console     [--rounds 12] [--duration 3] [--stream]

Every variant is a Plano (one worker) on core 0; all of them serve load at the same time, each
from its own wrk (32 connections), while the fake upstream, the wrks and the trace receiver share
core 1. On a shared virtual machine the speed of a core drifts by ±20 % within seconds, and two
processes of the same program can differ by 10 % or more: alternating runs (bench/run.py) cannot
resolve a few per cent. Here the variants see the same drift at the same moment, the kernel gives
each an equal share of the core, and each round yields a paired ratio of CPU time per request
(the gateway's own process, threads included), which is what its throughput on a core of its own
would be. The medians of the paired ratios are printed, beside "control", a second copy of the
baseline whose distance from 1.000 shows the noise of the run.

Variants:
- tracing: `off` (no tracing section), `0%` (random_sampling 0), `100%` (random_sampling 100,
  exported over OTLP/gRPC to `plano trace listen`, which runs on core 1);
- resilience: `off` (the bench's provider only), `configured` (retries and a fallback model on
  the same upstream: every request takes the resilience path and succeeds on its first attempt).
- cost: `off` (no price for the model, the bundled snapshot off: the cost meter finds none), `on`
  (the model has a price in the config: every request is priced from the upstream's usage);
- tls: `off` (plain HTTP), `tls` (the listener terminates TLS 1.3 with a self-signed P-256
  certificate made at start; wrk keeps its connections alive, so this is the per-byte cost plus
  one handshake per connection);
- pii: `off` (no filter), `pii` (a `type: pii` filter with every entity, in the listener's input
  and output chains; the bench's request holds no PII, as most requests: the cost of looking),
  `plumbing` (the same filter looking for nothing: chains, JSON decoding, the walk over texts);
- guard: `off`, `guard` (`prompt_guards`: the built-in guard embeds and scores every request).
- signals: `off` (`overrides.disable_signals: true`), `on` (every request analysed for agentic
  signals, within the default CPU budget `signals_cpu_budget` 0.02), `unbounded` (every request
  analysed, budget 1.0: the analysers' whole cost), over 10-turn conversations (`--conversation`);
  the body is the same for every request unless `--vary` (every request's last user message is
  new: the same history with another last message, so no kept result is reused);
- keys: `off` (no keys, no price), `on` (gateway keys with a file store, one cached key on every
  request, prices for the model so each request is costed), `budget` (the same key with a budget: a
  reservation before and a settlement after every request, in the key file's spend table),
  `keys-pg`: `off`, `budget` and `budget-pg` (the same, the key and its spend in PostgreSQL:
  `PLANO_AB_PG`, default the local `test` database, in a schema of its own dropped at the end);
  every variant gets
  the same `Authorization: Bearer pk-...` header (the ones without keys ignore it).
- console: every variant has its admin listener (and the web console's ring of recent requests,
  which is always on); `off` and `control`: nobody looks; `polling`: a client process on core 1
  polls the console's API as the open page does (`GET /console/api/requests?since=...` every
  second, `CONSOLE_POLL_S`; the page's summary every fifth poll);
- tree: the same config served by two source trees: `off` and `control` run the tree at
  `--base-src` (e.g. a `git worktree` of an earlier commit), `this` runs this checkout's `src/`
  (or `--this-src`, e.g. the compiled build unpacked by bench/compiled_tree.py, against this
  checkout's `src/` as `--base-src`: what compiling gains).
  What a refactoring of the request path costs, with nothing else changed.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Final

import loadgen
import procs
import targets

CONNECTIONS: Final = 32  # per variant
TRACING: Final = {
    "off": "",
    "control": "",
    "0%": "tracing:\n  random_sampling: 0\n",
    "100%": "tracing:\n  random_sampling: 100\n  opentracing_grpc_endpoint: http://127.0.0.1:{grpc}\n",
}
RESILIENCE: Final = {
    "off": "",
    "control": "",
    "configured": targets.RESILIENCE_EXTRA,
}
# Without a price: the bundled price snapshot (which prices gpt-4o) turned off.
UNPRICED: Final = "pricing:\n  snapshot: false\n"
COST: Final = {
    "off": UNPRICED,
    "control": UNPRICED,
    "on": "    pricing: {{input_per_mtok: 2.5, output_per_mtok: 10, cache_read_per_mtok: 1.25}}\n",
}
TLS_MARK: Final = "<tls>"
TLS: Final = {"off": "", "control": "", "tls": TLS_MARK}
PII: Final = {
    "off": "",
    "control": "",
    "plumbing": "filters:\n  - {{id: pii, type: pii, entities: {{}}}}\n",
    "pii": "filters:\n  - {{id: pii, type: pii, names: [Alice Martin]}}\n",
}
PII_CHAINS: Final = "    input_filters: [pii]\n    output_filters: [pii]\n"
TREE: Final = {"off": "", "control": "", "this": ""}
# The built-in guard in front of the input chain (issue 17): embedding + head on every request.
GUARD: Final = {
    "off": "",
    "control": "",
    "guard": "prompt_guards:\n  input_guards:\n    jailbreak:\n"
    "      on_exception: {{message: blocked}}\n",
}
SIGNALS: Final = {
    "off": "overrides:\n  disable_signals: true\n",
    "control": "overrides:\n  disable_signals: true\n",
    "on": "overrides:\n  signals_sample_rate: 1.0\n",  # the default budget (2 % of the CPU)
    "unbounded": "overrides:\n  signals_sample_rate: 1.0\n  signals_cpu_budget: 1.0\n",
}
# `PLANO_SIGNALS_THREAD=0 python bench/ab.py signals`: the analysis runs on the event loop
# instead of the analysis thread.
_KEYS_ON: Final = """    pricing: {{input_per_mtok: 2.5, output_per_mtok: 10}}
access:
  keys: {{enabled: true, store: file, path: KEYFILE}}
"""
KEYS: Final = {
    "off": UNPRICED,
    "control": UNPRICED,
    "on": _KEYS_ON.replace("KEYFILE", "{keyfile}"),
    "budget": _KEYS_ON.replace("KEYFILE", "{keyfile_budget}"),
}
# `python bench/ab.py keys-pg`: the budget key in the key file and in PostgreSQL.
KEYS_PG: Final = {
    "off": UNPRICED,
    "control": UNPRICED,
    "budget": KEYS["budget"],
    "budget-pg": _KEYS_ON.replace("store: file, path: KEYFILE", 'store: postgres, dsn: "{dsn}"'),
}
# `budget-pg`: the budget key in PostgreSQL (a schema of its own, dropped at the end).
PG_DSN: Final = os.environ.get("PLANO_AB_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_SCHEMA: Final = f"plano_ab_{os.getpid()}"
BENCH_KEY_ID: Final = "0123456789ab"
BENCH_SECRET: Final = "bench-secret-not-for-production-use-000000000"


def write_key_files(log_dir: Path) -> dict[str, str]:
    """Key files with the bench's key (without and with a budget); their paths by placeholder."""
    import json

    out = {}
    for name, budget in (("keyfile", None), ("keyfile_budget", 1e9)):
        record = key_record(budget)
        path = log_dir / f"{name}.json"
        path.write_text(json.dumps({"keys": {BENCH_KEY_ID: record}, "spend": {}}))
        out[name] = str(path)
    return out


def pg_keys(create: bool) -> str:
    """Create (or drop) the bench's schema with the budget key; the gateway's DSN."""
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
            if create:
                await conn.execute(f'CREATE SCHEMA "{PG_SCHEMA}"')
        finally:
            await conn.close()
        if create:
            from plano.state.keys import KeyRecord
            from plano.state.keys_postgres import PostgresKeyStore

            store = PostgresKeyStore(dsn)
            try:
                await store.create(KeyRecord.from_doc(key_record(1e9)))
            finally:
                await store.close()

    dsn = f"{PG_DSN}?search_path={PG_SCHEMA}"
    asyncio.run(run())
    return dsn


def key_record(budget: float | None) -> dict[str, object]:
    import hashlib

    return {
        "id": BENCH_KEY_ID,
        "name": "bench",
        "secret_hash": hashlib.sha256(BENCH_SECRET.encode()).hexdigest(),
        "budget_usd": budget,
        "period": "total",
    }


THIS_SRC: Final = str(Path(__file__).resolve().parents[1] / "src")
CONSOLE: Final = {"off": "", "control": "", "polling": ""}
CONSOLE_POLL_S: Final = 1.0  # the page's poll rate (console.js POLL_MS)
# The `polling` variant's client: what the open page asks for, at its rate.
CONSOLE_POLLER: Final = """
import json, sys, time, urllib.request
base, every, since, n = sys.argv[1], float(sys.argv[2]), 0, 0
while True:
    doc = json.load(urllib.request.urlopen(f"{base}/console/api/requests?since={since}"))
    since = max([since, *(r["f"] for r in doc["data"])])
    if n % 5 == 0:
        urllib.request.urlopen(f"{base}/console/api/summary?minutes=15").read()
    n += 1
    time.sleep(every)
"""


def start_console_poller(log_dir: Path, admin_port: int) -> procs.Service:
    base = f"http://127.0.0.1:{admin_port}"
    cmd = [sys.executable, "-c", CONSOLE_POLLER, base, str(CONSOLE_POLL_S)]
    return procs.start("console-poller", cmd, targets.LOAD_CORE, log_dir)


def start_gateway(
    name: str,
    extra: str,
    log_dir: Path,
    upstream: int,
    grpc: int,
    src: str | None = None,
    admin_port: int | None = None,
) -> tuple[procs.Service, str]:
    port = procs.free_port()
    config = log_dir / f"plano_{name.strip('%')}.yaml"
    if "{keyfile" in extra:
        for placeholder, path in write_key_files(log_dir).items():
            extra = extra.replace("{" + placeholder + "}", path)
    if '"{dsn}"' in extra:
        extra = extra.replace('"{dsn}"', f'"{pg_keys(create=True)}"')
    scheme = "http"
    if extra == TLS_MARK:  # the listener serves HTTPS
        cert, key = self_signed(log_dir)
        line = "    port: {port}\n"
        tls = f"    tls: {{{{certificate: {cert}, key: {key}}}}}\n"
        text, scheme = targets.GATEWAY_CONFIG.replace(line, line + tls), "https"
    else:
        text = targets.GATEWAY_CONFIG + extra.replace("{grpc}", "{{grpc}}")
    if "type: pii" in extra:  # the listener's chains name the filter
        text = text.replace("    port: {port}\n", "    port: {port}\n" + PII_CHAINS, 1)
    config.write_text(
        text.format(port=port, upstream=upstream, key=targets.UPSTREAM_KEY).replace(
            "{grpc}", str(grpc)
        )
    )
    cmd = [sys.executable, "-m", "plano", "up", str(config), "--foreground", "--workers", "1"]
    env = {"PLANO_ADMIN_PORT": str(admin_port) if admin_port else "off"}
    if src is not None:  # which source tree serves (bench/ab.py tree)
        env["PYTHONPATH"] = src
    service = procs.start(f"plano-{name.strip('%')}", cmd, targets.PROXY_CORE, log_dir, env=env)
    procs.wait_line(service, "plano ready")
    return service, f"{scheme}://127.0.0.1:{port}/v1/chat/completions"


def self_signed(where: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (wrk does not verify it)."""
    cert, key = where / "bench-cert.pem", where / "bench-key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
    return cert, key


def take_turns(pids: list[int], slice_s: float, done: threading.Event) -> None:
    """Let one gateway run at a time, `slice_s` each in turn, the others stopped (SIGSTOP),
    until `done`; then resume them all."""
    try:
        for pid in pids[1:]:
            os.kill(pid, signal.SIGSTOP)
        turn = 0
        while not done.wait(slice_s):
            os.kill(pids[turn], signal.SIGSTOP)
            turn = (turn + 1) % len(pids)
            os.kill(pids[turn], signal.SIGCONT)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def load_all(
    gateways: dict[str, tuple[procs.Service, str]],
    script: Path | dict[str, Path],
    seconds: float,
    turns: float = 0.0,
    connections: int = CONNECTIONS,
) -> dict[str, float]:
    """Load every gateway at once for `seconds` (with `turns`, taking turns on the core for that
    many seconds each); CPU µs per request of each. `script`: one wrk script for all, or one per
    gateway name."""
    results: dict[str, loadgen.WrkResult] = {}
    # `plano up` serves from its worker process, a child of the supervisor it starts.
    pids = {name: procs.serving_pid(service.pid) for name, (service, _) in gateways.items()}
    before = {name: procs.cpu_seconds(pid) for name, pid in pids.items()}
    done = threading.Event()
    rotation = threading.Thread(target=take_turns, args=(list(pids.values()), turns, done))
    if turns:
        rotation.start()

    def load(name: str, url: str) -> None:
        lua = script[name] if isinstance(script, dict) else script
        results[name] = loadgen.run(url, lua, connections, seconds, targets.LOAD_CORE)

    threads = [
        threading.Thread(target=load, args=(name, url)) for name, (_, url) in gateways.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    if turns:
        rotation.join()
    out = {}
    for name, (service, _) in gateways.items():
        res = results[name]
        if res.errors:
            raise RuntimeError(f"{name}: {res.errors} failed requests\n{service.log_tail()}")
        out[name] = (procs.cpu_seconds(pids[name]) - before[name]) / res.requests * 1e6
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "feature",
        choices=[
            *("tracing", "resilience", "cost", "tls", "pii", "guard", "signals"),
            *("keys", "keys-pg", "tree", "console"),
        ],
    )
    parser.add_argument(
        "--conversation",
        type=int,
        default=None,
        metavar="TURNS",
        help="user turns in each request's conversation (default: 10 for signals, else 1)",
    )
    parser.add_argument("--base-src", help="tree: the src/ directory `off` and `control` run")
    parser.add_argument("--this-src", default=THIS_SRC, help="tree: the directory `this` runs")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument(
        "--connections", type=int, default=CONNECTIONS, help="wrk connections per variant"
    )
    parser.add_argument(
        "--vary",
        action="store_true",
        help="every request's last user message is new (default: the same body every time)",
    )
    parser.add_argument(
        "--turns",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="variants take turns on the core, SECONDS each (default: all run at once)",
    )
    args = parser.parse_args()
    if loadgen.wrk_path() is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if args.feature == "tree" and not args.base_src:
        parser.error("tree needs --base-src")
    variants = {
        "tracing": TRACING,
        "resilience": RESILIENCE,
        "cost": COST,
        "tls": TLS,
        "pii": PII,
        "guard": GUARD,
        "signals": SIGNALS,
        "tree": TREE,
        "keys": KEYS,
        "keys-pg": KEYS_PG,
        "console": CONSOLE,
    }[args.feature]
    turns = args.conversation or (10 if args.feature == "signals" else 1)
    with tempfile.TemporaryDirectory(prefix="plano-ab-") as tmp:
        log_dir = Path(tmp)
        upstream, upstream_port = targets.start_upstream(log_dir, 20, None)
        started = [upstream]
        grpc = procs.free_port()
        if args.feature == "tracing":
            receiver = procs.start(
                "receiver",
                [sys.executable, "-m", "plano", "trace", "listen", "--foreground",
                 "--grpc-port", str(grpc), "--http-port", str(procs.free_port()),
                 "--capacity", "50"],
                targets.LOAD_CORE, log_dir,
            )  # fmt: skip
            started.append(receiver)
            procs.wait_line(receiver, "plano trace listening")
        gateways: dict[str, tuple[procs.Service, str]] = {}
        try:
            for name, extra in variants.items():
                src = None
                if args.feature == "tree":
                    base = args.this_src if name == "this" else args.base_src
                    src = str(Path(base).resolve())
                admin = procs.free_port() if args.feature == "console" else None
                gateways[name] = start_gateway(
                    name, extra, log_dir, upstream_port, grpc, src, admin
                )
                if name == "polling" and admin is not None:
                    started.append(start_console_poller(log_dir, admin))
            script = loadgen.write_lua(log_dir, args.stream, turns, args.vary)
            if args.feature.startswith("keys"):  # the bench's gateway key, for every variant
                key = f"pk-{BENCH_KEY_ID}-{BENCH_SECRET}"
                script.write_text(script.read_text().replace("client-key", key))
            load_all(gateways, script, 2, args.turns, args.connections)  # warm-up
            per_request: dict[str, list[float]] = {name: [] for name in gateways}
            for round_no in range(args.rounds):
                got = load_all(gateways, script, args.duration, args.turns, args.connections)
                for name, us in got.items():
                    per_request[name].append(us)
                cells = "  ".join(f"{name} {us:6.1f}" for name, us in got.items())
                print(f"round {round_no + 1:2d} (µs CPU/request): {cells}", flush=True)
            base = per_request["off"]
            print(f"\n{args.feature}, {'stream' if args.stream else 'non-stream'}:")
            for name, values in per_request.items():
                paired = [b / v for b, v in zip(base, values, strict=True)]
                quartiles = statistics.quantiles(paired, n=4)
                print(
                    f"  {name:>10}: {statistics.median(values):6.1f} µs CPU/request, "
                    f"throughput vs off {statistics.median(paired):.3f} "
                    f"(quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f})"
                )
        finally:
            for service, _ in gateways.values():
                procs.stop(service)
            for service in started:
                procs.stop(service)
            if "budget-pg" in variants:
                pg_keys(create=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
