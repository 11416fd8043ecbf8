"""The web console's memory: a bounded ring of recent request records, one per worker.

`ConsoleRing.write` is a `RecordSink`: when a request's telemetry completes it turns the record
into one compact JSON entry (`console_entry.entry`) and copies it into the next slot of a
fixed-size ring, overwriting the oldest. That is all the request path pays.

With several workers the ring is a file in the run's metrics directory (`console-<pid>.ring`,
beside prometheus-client's multiprocess files, `multiproc.active_dir`), mapped by its worker; the
admin listener of whichever worker a console request reaches reads every worker's file
(`read_all`). A lone worker (or an in-process gateway) keeps the same ring in anonymous memory.

A file is a header (magic, slots, slot size, next write index) then `slots` slots of
`slot_size` bytes, each `seq:u32 length:u32 payload`. Only the owning worker writes its file,
so no lock: a slot's `seq` is odd while it is being written, and a reader keeps a slot only
when `seq` is even and unchanged around its copy (a seqlock), so it never returns a torn entry.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import orjson

from plano.observability.console_entry import entry, shrink
from plano.observability.record import RequestRecord

MAGIC: Final = b"PLCONS01"
HEADER: Final = struct.Struct("<8sIIQ")  # magic, slots, slot size, next index
SLOT: Final = struct.Struct("<II")  # seq, payload length
SUFFIX: Final = ".ring"
DEFAULT_SLOTS: Final = 1024
DEFAULT_SLOT_SIZE: Final = 4096
ENV_SLOTS: Final = "PLANO_CONSOLE_RING"
ENV_BODIES: Final = "PLANO_CONSOLE_BODIES"


def ring_slots(environ: dict[str, str] | os._Environ[str]) -> int:
    """`PLANO_CONSOLE_RING`: entries kept per worker (default 1024; 0 turns the console's
    recording off). Raises ValueError for anything but a whole number."""
    raw = environ.get(ENV_SLOTS, "").strip()
    if not raw:
        return DEFAULT_SLOTS
    if not raw.isdigit():
        raise ValueError(f"{ENV_SLOTS} must be a whole number of entries, not {raw!r}")
    return int(raw)


def bodies_on(environ: dict[str, str] | os._Environ[str]) -> bool:
    """`PLANO_CONSOLE_BODIES=1`: entries carry the request body (off by default)."""
    return environ.get(ENV_BODIES, "").strip().lower() in ("1", "true", "yes", "on")


class ConsoleRing:
    """This worker's ring (the writer); `read_all` reads every worker's."""

    __slots__ = (
        "_bodies",
        "_buf",
        "_count",
        "_index",
        "_pid",
        "directory",
        "path",
        "slot_size",
        "slots",
    )

    def __init__(
        self,
        slots: int = DEFAULT_SLOTS,
        slot_size: int = DEFAULT_SLOT_SIZE,
        directory: str | None = None,
        *,
        bodies: bool = False,
    ) -> None:
        self.slots = slots
        self.slot_size = slot_size
        self.directory = directory
        self._bodies = bodies
        self._pid = os.getpid()
        self._count = 0
        size = HEADER.size + slots * slot_size
        self.path: str | None = None
        if directory is None:
            self._buf = mmap.mmap(-1, size)
        else:
            self.path = os.path.join(directory, f"console-{self._pid}{SUFFIX}")
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.ftruncate(fd, size)
                self._buf = mmap.mmap(fd, size)
            finally:
                os.close(fd)
        HEADER.pack_into(self._buf, 0, MAGIC, slots, slot_size, 0)
        self._index = 0

    def write(self, record: RequestRecord) -> None:
        """Append `record`'s entry (a `RecordSink`)."""
        self._count += 1
        doc = entry(record, f"{self._pid:x}-{self._count}", bodies=self._bodies)
        self.append(orjson.dumps(doc, default=str))

    def append(self, payload: bytes) -> None:
        room = self.slot_size - SLOT.size
        if len(payload) > room:
            payload = shrink(payload, room)
        index = self._index
        at = HEADER.size + (index % self.slots) * self.slot_size
        buf = self._buf
        seq = SLOT.unpack_from(buf, at)[0]
        SLOT.pack_into(buf, at, seq + 1, 0)  # odd: being written
        buf[at + SLOT.size : at + SLOT.size + len(payload)] = payload
        SLOT.pack_into(buf, at, seq + 2, len(payload))
        self._index = index + 1
        HEADER.pack_into(buf, 0, MAGIC, self.slots, self.slot_size, self._index)

    def close(self) -> None:
        self._buf.close()
        if self.path is not None:
            Path(self.path).unlink(missing_ok=True)

    def read_all(self) -> list[dict[str, Any]]:
        """Every worker's entries (this ring's when it is not in a directory), oldest first."""
        if self.directory is None:
            out = list(_entries(self._buf))
        else:
            out = []
            for path in sorted(Path(self.directory).glob(f"console-*{SUFFIX}")):
                out.extend(_read_file(path))
        out.sort(key=lambda e: e.get("f", 0))
        return out


def _read_file(path: Path) -> list[dict[str, Any]]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a worker's file removed as we list them
        return []
    try:
        if os.fstat(fd).st_size < HEADER.size:
            return []
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as buf:
            return list(_entries(buf))
    finally:
        os.close(fd)


def _entries(buf: mmap.mmap) -> Iterator[dict[str, Any]]:
    if len(buf) < HEADER.size:
        return
    magic, slots, slot_size, _ = HEADER.unpack_from(buf, 0)
    if magic != MAGIC or len(buf) < HEADER.size + slots * slot_size:
        return
    for i in range(slots):
        at = HEADER.size + i * slot_size
        seq, length = SLOT.unpack_from(buf, at)
        if seq == 0 or seq & 1 or length == 0 or length > slot_size - SLOT.size:
            continue
        payload = bytes(buf[at + SLOT.size : at + SLOT.size + length])
        if SLOT.unpack_from(buf, at)[0] != seq:
            continue  # overwritten while copied
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            yield doc


def build_ring(environ: dict[str, str] | os._Environ[str]) -> ConsoleRing | None:
    """This worker's ring: in the run's metrics directory when workers share one, else in
    memory; None when `PLANO_CONSOLE_RING=0`."""
    from plano.observability.multiproc import active_dir

    slots = ring_slots(environ)
    if slots == 0:
        return None
    return ConsoleRing(slots, directory=active_dir(), bodies=bodies_on(environ))
