"""The file key store's spend table: shared by processes, exact under their race, seeded from and
copied back into the JSON document, and out of the way of the key cache's version."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from plano.state.keys import KeyRecord
from plano.state.keys_file import FileKeyStore
from plano.state.keys_spend import NAME_LEN, SpendTable

KEY_ID = "0123456789ab"
SRC = str(Path(__file__).resolve().parents[3] / "src")

# One gateway process's worth of reservations: its own store, its own event loop.
_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from plano.state.keys_file import FileKeyStore

    async def main() -> None:
        store = FileKeyStore(sys.argv[1])
        passed = 0
        try:
            for _ in range(int(sys.argv[2])):
                got = await store.reserve("0123456789ab", "total", 1.0, float(sys.argv[3]))
                passed += got is not None
                await store.adjust("0123456789ab", "total", 0.0)
        finally:
            await store.close()
        print(passed)

    asyncio.run(main())
    """
)


def rec() -> KeyRecord:
    return KeyRecord(id=KEY_ID, name="n", secret_hash="h" * 64, created_at=1.0, budget_usd=1.0)


def test_two_processes_race_and_exactly_the_budget_passes(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), "200", "150.5"],
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    # 0..150 are below 150.5: 151 reservations pass between the two processes, no more.
    assert sum(int(o) for o in outs) == 151
    assert orjson.loads(path.read_bytes())["spend"][f"{KEY_ID}|total"] == pytest.approx(151.0)


def test_spend_does_not_rewrite_the_document_and_is_copied_back_on_close(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"

    async def run() -> None:
        store = FileKeyStore(path)
        await store.create(rec())
        before, version = path.read_bytes(), await store.version()
        assert await store.reserve(KEY_ID, "total", 0.25, 1.0) == pytest.approx(0.25)
        assert await store.adjust(KEY_ID, "total", -0.05) == pytest.approx(0.2)
        assert path.read_bytes() == before  # no rewrite per request
        assert await store.version() == version  # so the workers' key caches stay warm
        other = FileKeyStore(path)  # another process's view: the same number
        assert await other.spent(KEY_ID, "total") == pytest.approx(0.2)
        await other.close()
        await store.close()

    asyncio.run(run())
    assert json.loads(path.read_text())["spend"] == {f"{KEY_ID}|total": pytest.approx(0.2)}


def test_a_lost_or_damaged_table_is_rebuilt_from_the_document(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {}, "spend": {f"{KEY_ID}|total": 0.75}}))

    async def spent() -> float:
        store = FileKeyStore(path)
        try:
            return await store.spent(KEY_ID, "total")
        finally:
            await store.close()

    assert asyncio.run(spent()) == pytest.approx(0.75)  # seeded from the document
    Path(f"{path}.spend").write_bytes(b"garbage")
    assert asyncio.run(spent()) == pytest.approx(0.75)  # rebuilt, seeded again


def test_spend_the_table_cannot_hold_stays_in_the_document(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    long_id = "k" * NAME_LEN

    async def run() -> None:
        store = FileKeyStore(path)
        try:
            assert await store.reserve(long_id, "total", 0.5, 1.0) == pytest.approx(0.5)
            assert await store.reserve(long_id, "total", 0.6, 1.0) == pytest.approx(1.1)
            assert await store.reserve(long_id, "total", 0.1, 1.0) is None
        finally:
            await store.close()

    asyncio.run(run())
    assert json.loads(path.read_text())["spend"][f"{long_id}|total"] == pytest.approx(1.1)


def test_table_slots_are_found_again_by_another_map(tmp_path: Path) -> None:
    a = SpendTable(str(tmp_path / "t.spend"), lambda: {"x|total": 2.0})
    b = SpendTable(str(tmp_path / "t.spend"), lambda: {})
    try:
        names = [f"{i:012x}|d2026-12-{i % 28 + 1:02d}" for i in range(300)]
        for n in names:
            assert a.holds(n)
            a.adjust(n, 1.0)
        assert b.holds("x|total") and b.spent("x|total") == 2.0
        assert all(b.holds(n) and b.spent(n) == 1.0 for n in names)
        assert dict(a.items()) == dict(b.items())
    finally:
        a.close()
        b.close()
