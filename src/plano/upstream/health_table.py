"""The provider circuits' state, shared by every worker process of one gateway run.

A small file, ``provider-health.bin`` in the run's metrics directory (the supervisor creates one
per run and every worker inherits it as ``PROMETHEUS_MULTIPROC_DIR``), mapped into memory by each
worker. It holds a fixed table of ``SLOTS`` slots keyed by a stable 64-bit hash of the provider
name (open addressing, linear probing); a slot is claimed when a worker builds the provider's
circuit and is never given back. Each slot holds:

- ``open_until``: 0.0 while the circuit is closed, else the ``CLOCK_MONOTONIC`` time its open
  period ends (Python's ``time.monotonic()`` on Linux: one clock for every process on the
  machine, counted from boot). Past that time the circuit is half-open until a success clears
  the slot or a failure sets a new end;
- ``fails``: consecutive failed attempts counted by all workers together.

Reads are lock-free (``struct.unpack_from`` on the map: no system call). Writes are rare (a failed
attempt, or the first success after failures) and are serialised by an ``fcntl.lockf`` lock on the
file (between processes) and a ``threading.Lock`` (POSIX record locks do not exclude threads of
one process). Writers also bump a per-slot sequence number to odd before and to even after their
stores, and a reader that sees a non-zero ``open_until`` re-reads until the sequence number is
even and unchanged around its read (a seqlock). On x86-64, stores become visible in program order
and loads are not reordered with loads, so that read is exact; on aarch64 pure Python has no memory
barriers and the check is best effort. A misread costs at most one attempt sent to a provider that
was just opened, or one request sent to its fallback; it is never an error.

The file is checked when it is opened (size, magic, version) and rewritten from scratch when it
does not match (short, corrupt, another version); it is never shrunk below its size while mapped.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import threading
from typing import Final

from plano.state.mapped_table import HEADER, Locked, header_ok

FILE_NAME: Final = "provider-health.bin"
SLOTS: Final = 256
MAGIC: Final = b"PLNHLTH\x01"
HEADER_SIZE: Final = 64
_SLOT: Final = struct.Struct("<QdQQ")  # seq, open_until, fails, key
_SLOT_SIZE: Final = 32
SIZE: Final = HEADER_SIZE + SLOTS * _SLOT_SIZE
_SEQ: Final = struct.Struct("<Q")
_UNTIL: Final = struct.Struct("<d")
_STATE: Final = struct.Struct("<dQ")  # open_until, fails
_KEY: Final = struct.Struct("<Q")
_READ_TRIES: Final = 16
_SEQ_WRAP: Final = 1 << 64


def provider_key(name: str) -> int:
    """A stable, non-zero 64-bit key for a provider name (0 marks an empty slot)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"plano-health").digest()
    return int.from_bytes(digest, "little") or 1


class HealthTable:
    """One worker's map of the shared table."""

    __slots__ = ("_fd", "_lock", "_map", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            try:
                if not _valid(fd):
                    _rewrite(fd)
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN)
            self._map = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._lock = threading.Lock()

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    # -- slots ------------------------------------------------------------------------------------

    def slot(self, name: str) -> int | None:
        """The byte offset of the provider's slot, claimed if new; None when the table is full."""
        key = provider_key(name)
        start = key % SLOTS
        with self._locked():
            for n in range(SLOTS):
                off = HEADER_SIZE + ((start + n) % SLOTS) * _SLOT_SIZE
                found = _KEY.unpack_from(self._map, off + 24)[0]
                if found == key:
                    return off
                if found == 0:
                    _SLOT.pack_into(self._map, off, 0, 0.0, 0, key)
                    return off
        return None

    # -- lock-free reads --------------------------------------------------------------------------

    def open_until(self, off: int) -> float:
        """0.0 when the circuit is closed, else when its open period ends (it may be past)."""
        until: float = _UNTIL.unpack_from(self._map, off + 8)[0]
        if until == 0.0:  # the common case: one read
            return 0.0
        for _ in range(_READ_TRIES):
            seq = _SEQ.unpack_from(self._map, off)[0]
            until = _UNTIL.unpack_from(self._map, off + 8)[0]
            if not seq & 1 and _SEQ.unpack_from(self._map, off)[0] == seq:
                break
        return until if math.isfinite(until) and until > 0.0 else 0.0

    def dirty(self, off: int) -> bool:
        """Whether a success has anything to clear (failures counted, or the circuit not closed)."""
        until, fails = _STATE.unpack_from(self._map, off + 8)
        return bool(until != 0.0 or fails != 0)

    # -- writes (rare, locked) --------------------------------------------------------------------

    def failed(self, off: int, now: float, limit: int, open_for: float) -> float:
        """Count a failed attempt; returns the slot's new `open_until` (0.0: still closed). A
        circuit that is open or half-open anywhere is (re)opened for `open_for` from `now`; a
        closed one opens when the joint count reaches `limit`."""
        with self._locked():
            until, fails = _STATE.unpack_from(self._map, off + 8)
            if not math.isfinite(until) or until < 0.0 or until > now + open_for:
                until = 0.0  # corrupt, or from a generation with a longer open_for
            fails = min(fails + 1, 1 << 62)
            if until != 0.0 or fails >= limit:
                until = now + open_for
            self._write(off, until, fails)
            return float(until)

    def clear(self, off: int) -> None:
        """A success: the circuit is closed for every worker, the count starts again."""
        with self._locked():
            self._write(off, 0.0, 0)

    def _write(self, off: int, until: float, fails: int) -> None:
        seq = _SEQ.unpack_from(self._map, off)[0] & ~1
        _SEQ.pack_into(self._map, off, seq + 1)  # odd: a write is under way
        _STATE.pack_into(self._map, off + 8, until, fails)
        _SEQ.pack_into(self._map, off, (seq + 2) % _SEQ_WRAP)

    def _locked(self) -> Locked:
        return Locked(self._lock, self._fd, posix=True)


def _valid(fd: int) -> bool:
    return header_ok(fd, SIZE, MAGIC, SLOTS, _SLOT_SIZE)


def _rewrite(fd: int) -> None:
    """A fresh table: the header, every slot empty."""
    data = bytearray(SIZE)
    HEADER.pack_into(data, 0, MAGIC, SLOTS, _SLOT_SIZE)
    os.pwrite(fd, bytes(data), 0)
    os.ftruncate(fd, SIZE)


_tables: dict[str, HealthTable] = {}
_tables_lock = threading.Lock()


def open_table(directory: str) -> HealthTable:
    """This process's map of the table in `directory` (opened once per process)."""
    path = os.path.join(directory, FILE_NAME)
    key = f"{os.getpid()}:{path}"
    with _tables_lock:
        table = _tables.get(key)
        if table is None:
            table = _tables[key] = HealthTable(path)
        return table
