"""The file key store, for a single box: one JSON document, shared by every worker on it.

Every key operation takes an exclusive `fcntl` lock on `<path>.lock`, reads the document, and
(for a change) writes it to a temporary file in the same directory and renames it over the old
one, so a reader never sees half a file. Key changes are flushed to disk (fsync) before the
rename. The blocking work runs in a thread, off the event loop. Every write also counts up a
generation number kept in the lock file; a worker rereads the document only when that number or
the file's inode, mtime or size changed (a hand edit changes those), so the same-sized rewrite of
another worker within one timestamp tick is never missed.

Spend (a reservation and a settlement per request of a key with a budget) lives in a table beside
the file that every process maps into memory (`keys_spend`, `<path>.spend`): a few microseconds
on the event loop, exact across processes. The document's `spend` is the table's copy, written
with every key change and when the store closes; it seeds the table when the table is created.
Spend the table cannot hold (a very long key id, a full table) stays in the document, changed
under the lock as keys are.

    {"keys": {"<id>": {...KeyRecord...}}, "spend": {"<id>|<period>": 0.0123}}
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson

from plano.state.keys import KeyRecord, KeyStoreError
from plano.state.keys_spend import SpendTable

log = logging.getLogger("plano.access")

T = TypeVar("T")
Doc = dict[str, Any]
_GEN_LEN = 20  # the lock file holds the write generation, 20 digits
_UNCHANGED: Any = object()  # what an operation returns when it changed nothing


class FileKeyStore:
    backend = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._seen: tuple[bytes, int, int, int] | None = None
        self._doc: Doc = {}
        self._table: SpendTable | None = None
        self._table_tried = False  # the table is opened once (None after: the document only)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    def _stamp(self, lock: int) -> tuple[bytes, int, int, int]:
        st = self.path.stat()
        return os.pread(lock, _GEN_LEN, 0), st.st_ino, st.st_mtime_ns, st.st_size

    def _read(self, lock: int) -> Doc:
        try:
            stamp = self._stamp(lock)
        except FileNotFoundError:
            return {"keys": {}, "spend": {}}
        if stamp != self._seen:
            try:
                doc = orjson.loads(self.path.read_bytes())
            except orjson.JSONDecodeError as exc:
                raise KeyStoreError(f"key file {self.path} is not valid JSON") from exc
            if not isinstance(doc, dict):
                raise KeyStoreError(f"key file {self.path} is not a JSON object")
            doc.setdefault("keys", {})
            doc.setdefault("spend", {})
            self._doc, self._seen = doc, stamp
        return self._doc

    def _write(self, lock: int, doc: Doc, durable: bool) -> None:
        if self._table is not None:  # the document keeps a copy of the table's spend
            doc["spend"].update(self._table.items())
        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if durable:  # key changes; spend updates skip the disk flush (see above)
                    f.flush()
                    os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        gen = os.pread(lock, _GEN_LEN, 0)
        os.pwrite(lock, b"%020d" % (int(gen or b"0") + 1), 0)
        self._doc, self._seen = doc, self._stamp(lock)  # still ours: the lock is held

    def _run(self, fn: Callable[[Doc], T], write: bool, durable: bool) -> T:
        with self._locked() as lock:
            doc = self._read(lock)
            result = fn(doc)
            if write and result is not _UNCHANGED:
                self._write(lock, doc, durable)
            return result

    async def _do(self, fn: Callable[[Doc], T], write: bool = False, durable: bool = True) -> T:
        try:
            return await asyncio.to_thread(self._run, fn, write, durable)
        except OSError as exc:
            raise KeyStoreError(f"key file {self.path}: {exc.strerror}") from exc

    async def create(self, record: KeyRecord) -> None:
        def add(doc: Doc) -> None:
            if record.id in doc["keys"]:
                raise KeyStoreError(f"key id {record.id} exists")
            doc["keys"][record.id] = record.to_doc()

        await self._do(add, write=True)

    async def get(self, key_id: str) -> KeyRecord | None:
        def one(doc: Doc) -> KeyRecord | None:
            found = doc["keys"].get(key_id)
            return KeyRecord.from_doc(found) if found is not None else None

        return await self._do(one)

    async def list(self) -> list[KeyRecord]:
        def every(doc: Doc) -> list[KeyRecord]:
            return sorted(
                (KeyRecord.from_doc(d) for d in doc["keys"].values()), key=lambda r: r.created_at
            )

        return await self._do(every)

    async def put(self, record: KeyRecord) -> None:
        def replace(doc: Doc) -> None:
            doc["keys"][record.id] = record.to_doc()

        await self._do(replace, write=True)

    def _open_table(self) -> None:
        with self._locked() as lock:  # one process builds a missing table, from the document
            doc = self._read(lock)
            try:
                self._table = SpendTable(
                    str(self.path) + ".spend", lambda: dict(doc["spend"].items())
                )
            except (OSError, ValueError) as exc:
                log.warning("key spend stays in %s: cannot map its table (%s)", self.path, exc)

    def _table_now(self, slot: str) -> SpendTable | None:
        table = self._table
        return table if table is not None and table.holds(slot) else None

    async def _spend_table(self, slot: str) -> SpendTable | None:
        """The shared table when it holds `slot` (opened on first use), else None."""
        if self._table is not None:
            return self._table_now(slot)
        if not self._table_tried:
            self._table_tried = True
            try:
                await asyncio.to_thread(self._open_table)
            except (OSError, KeyStoreError) as exc:
                self._table_tried = False  # the document could not be read: try again later
                if isinstance(exc, KeyStoreError):
                    raise
                raise KeyStoreError(f"key file {self.path}: {exc.strerror}") from exc
        table = self._table
        return table if table is not None and table.holds(slot) else None

    async def reserve(self, key_id: str, period: str, amount: float, limit: float) -> float | None:
        slot = f"{key_id}|{period}"
        table = await self._spend_table(slot)
        if table is not None:
            return table.reserve(slot, amount, limit)

        def take(doc: Doc) -> Any:
            now = float(doc["spend"].get(slot, 0.0))
            if now >= limit:
                return _UNCHANGED
            spent = doc["spend"][slot] = now + amount
            return spent

        got = await self._do(take, write=True, durable=False)
        return None if got is _UNCHANGED else float(got)

    async def adjust(self, key_id: str, period: str, delta: float) -> float:
        slot = f"{key_id}|{period}"
        table = await self._spend_table(slot)
        if table is not None:
            return table.adjust(slot, delta)

        def move(doc: Doc) -> float:
            value = max(0.0, float(doc["spend"].get(slot, 0.0)) + delta)
            doc["spend"][slot] = value
            return value

        return await self._do(move, write=True, durable=False)

    def adjust_nowait(self, key_id: str, period: str, delta: float) -> float | None:
        """`adjust` on the event loop when the table holds the spend (None: use `adjust`)."""
        slot = f"{key_id}|{period}"
        table = self._table_now(slot)
        return None if table is None else table.adjust(slot, delta)

    async def spent(self, key_id: str, period: str) -> float:
        slot = f"{key_id}|{period}"
        table = await self._spend_table(slot)
        if table is not None:
            return table.spent(slot)
        return await self._do(lambda doc: float(doc["spend"].get(slot, 0.0)))

    async def version(self) -> object:
        """The key file's identity and the write generation (spend updates included: a change
        of spend only makes workers reread keys a little more often)."""

        def stamp() -> object:
            try:
                fd = os.open(self._lock_path, os.O_RDONLY)
            except FileNotFoundError:
                return None
            try:
                return self._stamp(fd)
            except FileNotFoundError:
                return None
            finally:
                os.close(fd)

        try:
            return await asyncio.to_thread(stamp)
        except OSError as exc:
            raise KeyStoreError(f"key file {self.path}: {exc.strerror}") from exc

    def _copy_spend(self) -> None:
        with self._locked() as lock:
            doc = self._read(lock)
            self._write(lock, doc, durable=False)

    async def close(self) -> None:
        """Copy the table's spend into the document, and unmap it."""
        table = self._table
        if table is None:
            return
        try:
            await asyncio.to_thread(self._copy_spend)
        except (OSError, KeyStoreError) as exc:
            log.warning("key spend not copied into %s (%s)", self.path, exc)
        finally:
            self._table = None
            table.close()
