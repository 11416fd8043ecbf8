"""The web console's memory: a bounded ring of recent request records, one per worker.

On the request path `ConsoleRing.write` (a `RecordSink`, called once a request's telemetry
completes) only appends the finished record to a bounded deque, and, while a console is open,
writes it into the ring as one compact JSON array (`console_entry.raw`); the deque's records
are written when a console opens. Turning a record into what the console shows
(`console_entry.expand`) is the admin listener's work, for the entries it is asked for.

With several workers the ring is a file in the run's metrics directory (`console-<pid, hex>.ring`,
beside prometheus-client's multiprocess files, `multiproc.active_dir`), mapped by its worker;
the admin listener of whichever worker a console request reaches marks the console open in the
directory's `console-open` file (for `OPEN_SECONDS`) and reads every worker's ring. A worker
writes what it kept on its next request after that (an idle worker's newest requests show once
it serves another). A lone worker (an in-process gateway) keeps its ring in anonymous memory,
and its admin listener writes the kept records itself before reading.

A ring is a header (magic, slots, slot size, entries written so far) then `slots` slots of
`slot_size` bytes, each `seq:u32 length:u32 flushed_us:u64 payload`. Only the owning worker
writes it, so no lock: a slot's `seq` is odd while it is being written, and a reader keeps a
slot only when `seq` is even and unchanged around its copy (a seqlock), so it never returns a
torn entry. A reader walks back from the newest entry and stops at the first one it has seen
(`since`) or once it has `limit`: a poll costs what it returns, not the ring's size.
"""

from __future__ import annotations

import itertools
import mmap
import os
import struct
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import orjson

from plano.observability.console_entry import clip, expand, raw
from plano.observability.record import RequestRecord

MAGIC: Final = b"PLCONS02"
HEADER: Final = struct.Struct("<8sIIQ")  # magic, slots, slot size, entries written
_WRITTEN: Final = struct.Struct("<Q")  # the header's entries written (at offset 16)
SLOT: Final = struct.Struct("<IIQ")  # seq, payload length, when written (µs)
OPEN: Final = struct.Struct("<d")  # the console is open until (time.time())
OPEN_FILE: Final = "console-open"
OPEN_SECONDS: Final = 10.0
SUFFIX: Final = ".ring"
DEFAULT_SLOTS: Final = 1024
DEFAULT_SLOT_SIZE: Final = 4096
ENV_SLOTS: Final = "PLANO_CONSOLE_RING"
ENV_BODIES: Final = "PLANO_CONSOLE_BODIES"
_SERIAL: Final = itertools.count()


def ring_slots(environ: Mapping[str, str]) -> int:
    """`PLANO_CONSOLE_RING`: entries kept per worker (default 1024; 0 turns the console's
    recording off). Raises ValueError for anything but a whole number."""
    value = environ.get(ENV_SLOTS, "").strip()
    if not value:
        return DEFAULT_SLOTS
    if not value.isdigit():
        raise ValueError(f"{ENV_SLOTS} must be a whole number of entries, not {value!r}")
    return int(value)


def bodies_on(environ: Mapping[str, str]) -> bool:
    """`PLANO_CONSOLE_BODIES=1`: entries carry the request body (off by default)."""
    return environ.get(ENV_BODIES, "").strip().lower() in ("1", "true", "yes", "on")


def _map(path: str, size: int, *, truncate: bool) -> mmap.mmap:
    flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if os.fstat(fd).st_size != size:
            os.ftruncate(fd, size)
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


class ConsoleRing:
    """This worker's ring (the writer), and the reader of every worker's."""

    def __init__(
        self,
        slots: int = DEFAULT_SLOTS,
        slot_size: int = DEFAULT_SLOT_SIZE,
        directory: str | None = None,
        *,
        bodies: bool = False,
        worker: int | None = None,
    ) -> None:
        self.slots = slots
        self.slot_size = slot_size
        self.directory = directory
        self.dropped = 0  # entries too big for a slot even when clipped
        self._bodies = bodies
        # Names its file and its entries' ids: the worker's pid (hex), and a serial number when
        # one process has more than one ring (in-process gateways side by side in tests).
        pid = os.getpid() if worker is None else worker
        serial = next(_SERIAL) if worker is None else 0
        self._name = f"{pid:x}" if serial == 0 else f"{pid:x}.{serial}"
        self._count = 0
        self._index = 0
        self._stamp = 0  # the last entry's `flushed` (µs)
        self._kept: deque[RequestRecord] = deque(maxlen=slots)
        size = HEADER.size + slots * slot_size
        self.path: str | None = None
        self._open: mmap.mmap | None = None
        if directory is None:
            self._buf = mmap.mmap(-1, size)
        else:
            self.path = os.path.join(directory, f"console-{self._name}{SUFFIX}")
            self._buf = _map(self.path, size, truncate=True)
            self._open = _map(os.path.join(directory, OPEN_FILE), OPEN.size, truncate=False)
        HEADER.pack_into(self._buf, 0, MAGIC, slots, slot_size, 0)

    def write(self, record: RequestRecord) -> None:
        """Keep `record` (a `RecordSink`); into the ring at once while a console is open."""
        self._kept.append(record)
        opened = self._open
        if opened is not None and OPEN.unpack_from(opened)[0] > time.time():
            self.flush()

    def flush(self) -> None:
        """Write every kept record into the ring (on the loop that writes: the worker's). Each
        entry's `flushed` time is distinct and increasing (the readers' `since` cursor)."""
        kept, stamp = self._kept, self._stamp
        if self._buf.closed:
            kept.clear()  # the worker is shutting down
            return
        while kept:
            self._count += 1
            stamp = max(time.time_ns() // 1000, stamp + 1)
            doc = raw(kept.popleft(), f"{self._name}-{self._count}", stamp, self._bodies)
            self._append(orjson.dumps(doc, default=str), stamp, doc)
        self._stamp = stamp

    def _append(self, payload: bytes, flushed: int, doc: list[Any]) -> None:
        room = self.slot_size - SLOT.size
        if len(payload) > room:
            payload = orjson.dumps(clip(doc), default=str)
            if len(payload) > room:
                self.dropped += 1
                return
        index = self._index
        lap, slot = divmod(index, self.slots)
        at = HEADER.size + slot * self.slot_size
        buf = self._buf
        SLOT.pack_into(buf, at, 2 * lap + 1, 0, 0)  # odd: being written
        buf[at + SLOT.size : at + SLOT.size + len(payload)] = payload
        SLOT.pack_into(buf, at, 2 * lap + 2, len(payload), flushed)
        self._index = index + 1
        _WRITTEN.pack_into(buf, 16, index + 1)

    def looked_at(self) -> None:
        """A console asked (the admin listener, on the loop): mark it open for every worker
        for `OPEN_SECONDS`, and write this worker's kept records."""
        if self._open is not None:
            OPEN.pack_into(self._open, 0, time.time() + OPEN_SECONDS)
        self.flush()

    def read(
        self, since: int = 0, limit: int | None = None, *, detail: bool = False
    ) -> list[dict[str, Any]]:
        """Every worker's entries written after `since` (µs), oldest first; the newest `limit`
        of them when given. Only those are parsed and expanded, with their detail groups when
        `detail` (`console_entry.expand`; call it in a thread)."""
        found = self._payloads(since, limit)
        found.sort(key=lambda item: item[0])
        if limit is not None:
            found = found[-limit:]
        out = []
        for _, payload in found:
            try:
                out.append(expand(orjson.loads(payload), detail=detail))
            except (ValueError, TypeError, AttributeError, IndexError):
                continue  # not an entry this version wrote
        return out

    def find(self, entry_id: str) -> dict[str, Any] | None:
        """The entry with id `entry_id` (`<pid hex>-<n>`), if a ring still holds it."""
        prefix = orjson.dumps([entry_id])[:-1]  # the raw entry starts with its id
        for _, payload in self._payloads(0):
            if payload.startswith(prefix):
                try:
                    return expand(orjson.loads(payload))
                except (ValueError, TypeError, AttributeError, IndexError):
                    return None
        return None

    def _payloads(self, since: int, limit: int | None = None) -> list[tuple[int, bytes]]:
        """(written µs, payload) of every worker's entries written after `since` (the newest
        `limit` of each worker's, when given)."""
        if self.directory is None:
            return [] if self._buf.closed else _slots(self._buf, since, limit)
        found: list[tuple[int, bytes]] = []
        for path in Path(self.directory).glob(f"console-*{SUFFIX}"):
            found.extend(_file_slots(path, since, limit))
        return found

    def close(self) -> None:
        """At worker shutdown (`Telemetry.close`): later records are no longer written."""
        opened, self._open = self._open, None
        self._buf.close()
        if opened is not None:
            opened.close()
        if self.path is not None:
            Path(self.path).unlink(missing_ok=True)


def _file_slots(path: Path, since: int, limit: int | None) -> list[tuple[int, bytes]]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a worker's file removed as we list them
        return []
    try:
        if os.fstat(fd).st_size < HEADER.size:
            return []
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as buf:
            return _slots(buf, since, limit)
    finally:
        os.close(fd)


def _slots(buf: mmap.mmap, since: int, limit: int | None) -> list[tuple[int, bytes]]:
    """(written µs, payload) of the ring's complete entries written after `since`, newest
    first, at most `limit`."""
    out: list[tuple[int, bytes]] = []
    if len(buf) < HEADER.size:
        return out
    magic, slots, slot_size, written = HEADER.unpack_from(buf, 0)
    if magic != MAGIC or len(buf) < HEADER.size + slots * slot_size:
        return out
    for index in range(written - 1, max(written - slots, 0) - 1, -1):
        at = HEADER.size + (index % slots) * slot_size
        seq, length, flushed = SLOT.unpack_from(buf, at)
        if flushed <= since:
            break  # this one and every older one were seen
        if seq & 1 or not 0 < length <= slot_size - SLOT.size:
            continue
        payload = bytes(buf[at + SLOT.size : at + SLOT.size + length])
        if SLOT.unpack_from(buf, at)[0] == seq:  # not overwritten while copied
            out.append((flushed, payload))
            if limit is not None and len(out) >= limit:
                break
    return out


def build_ring(environ: Mapping[str, str]) -> ConsoleRing | None:
    """This worker's ring: in the run's metrics directory when workers share one, else in
    memory; None when `PLANO_CONSOLE_RING=0`."""
    from plano.observability.multiproc import active_dir

    slots = ring_slots(environ)
    if slots == 0:
        return None
    return ConsoleRing(slots, directory=active_dir(), bodies=bodies_on(environ))
