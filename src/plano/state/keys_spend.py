"""The file key store's spend, in a table every process on the box maps into memory.

A key budget is charged twice per request (a reservation before the call, a settlement after).
Rewriting the JSON key file for each of those costs a thread hop, a lock, a parse and a rename:
hundreds of microseconds. The spend lives instead in ``<key file>.spend``, a small binary file of
``SLOTS`` fixed slots, mapped (``MAP_SHARED``) by every worker and every gateway process that uses
the same key file, so they all see one number per (key id, period):

- a slot is ``name`` (``"<id>|<period>"``, UTF-8, zero-padded to ``NAME_LEN`` bytes) and the
  spend (a double); it is found by a CRC-32 of the name (the same in every process) with linear
  probing, claimed on first use and never given back (so each store keeps name → offset);
- every read-modify-write holds an exclusive ``flock`` on the table's file (between processes,
  and between the stores of one process: each opens its own file description) and a
  ``threading.Lock`` (threads sharing one store): a reservation checks and adds in one step, so
  however many workers race, the spend passes the budget by at most the request that crossed it;
- the lock is held for a few microseconds and never across an ``await``: operations run on the
  event loop, no thread hop.

The table is created (or, when damaged or of another layout, rebuilt) under the key file's lock,
seeded with the spend the JSON document holds, and the store copies the table back into the JSON
document whenever it writes that (a key change) and when it closes: the JSON stays a readable,
restorable record, and deleting the table file falls back to it. A name longer than ``NAME_LEN``
bytes, or a full table, is not an error: that spend stays in the JSON document, as before.
Pages are written back by the kernel (a process crash loses nothing; a power cut may lose the
last moments of spend, as the JSON path, which never flushed spend updates either).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from plano.state.mapped_table import HEADER, Locked, header_ok

MAGIC: Final = b"PLNSPND\x01"
SLOTS: Final = 8192
NAME_LEN: Final = 40
HEADER_SIZE: Final = 64
_SLOT_SIZE: Final = 48  # name (40 bytes), spend (double)
_VALUE: Final = struct.Struct("<d")
SIZE: Final = HEADER_SIZE + SLOTS * _SLOT_SIZE
_EMPTY: Final = bytes(NAME_LEN)


class SpendTable:
    """One store's map of the shared table."""

    __slots__ = ("_fd", "_lock", "_map", "_offsets", "path")

    def __init__(self, path: str, seed: Callable[[], Mapping[str, float]]) -> None:
        """Map the table at `path`; `seed()` gives the spend to start from when the table must
        be (re)built. The caller holds the key file's lock (no other process builds it)."""
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if not _valid(fd):
                _rewrite(fd)
                fresh = True
            else:
                fresh = False
            self._map = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._lock = threading.Lock()
        self._offsets: dict[str, int] = {}
        if fresh:
            with self._locked():
                for name, value in seed().items():
                    off = self._slot(name, claim=True)
                    if off is not None:
                        _VALUE.pack_into(self._map, off + NAME_LEN, max(0.0, float(value)))

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    def holds(self, name: str) -> bool:
        """Whether `name`'s spend can live here (short enough; a slot free or its own)."""
        if name in self._offsets:
            return True
        with self._locked():
            return self._slot(name, claim=True) is not None

    def reserve(self, name: str, amount: float, limit: float) -> float | None:
        """Add `amount` while the spend is below `limit`; the new spend, or None (refused)."""
        off = self._offsets[name]
        with self._locked():
            now: float = _VALUE.unpack_from(self._map, off + NAME_LEN)[0]
            if now >= limit:
                return None
            now += amount
            _VALUE.pack_into(self._map, off + NAME_LEN, now)
            return now

    def adjust(self, name: str, delta: float) -> float:
        off = self._offsets[name]
        with self._locked():
            value: float = max(0.0, _VALUE.unpack_from(self._map, off + NAME_LEN)[0] + delta)
            _VALUE.pack_into(self._map, off + NAME_LEN, value)
            return value

    def spent(self, name: str) -> float:
        value: float = _VALUE.unpack_from(self._map, self._offsets[name] + NAME_LEN)[0]
        return value

    def items(self) -> Iterator[tuple[str, float]]:
        """Every claimed slot's (name, spend): what the store copies into the JSON document."""
        m = self._map
        for n in range(SLOTS):
            off = HEADER_SIZE + n * _SLOT_SIZE
            raw = m[off : off + NAME_LEN]
            if raw != _EMPTY:
                yield raw.rstrip(b"\0").decode(), _VALUE.unpack_from(m, off + NAME_LEN)[0]

    def _slot(self, name: str, claim: bool) -> int | None:
        """The offset of `name`'s slot (claimed if new and `claim`); None when it cannot have
        one. The lock is held."""
        raw = name.encode()
        if len(raw) > NAME_LEN or not raw or b"\0" in raw:
            return None
        padded = raw.ljust(NAME_LEN, b"\0")
        start, m = zlib.crc32(raw) % SLOTS, self._map
        for n in range(SLOTS):
            off = HEADER_SIZE + ((start + n) % SLOTS) * _SLOT_SIZE
            found = m[off : off + NAME_LEN]
            if found == padded:
                self._offsets[name] = off
                return off
            if found == _EMPTY:
                if not claim:
                    return None
                m[off : off + NAME_LEN] = padded
                _VALUE.pack_into(m, off + NAME_LEN, 0.0)
                self._offsets[name] = off
                return off
        return None

    def _locked(self) -> Locked:
        return Locked(self._lock, self._fd, posix=False)


def _valid(fd: int) -> bool:
    return header_ok(fd, SIZE, MAGIC, SLOTS, _SLOT_SIZE)


def _rewrite(fd: int) -> None:
    """A fresh table: the header, every slot empty (a sparse file: pages appear as used)."""
    os.ftruncate(fd, 0)
    os.ftruncate(fd, SIZE)
    head = bytearray(HEADER_SIZE)
    HEADER.pack_into(head, 0, MAGIC, SLOTS, _SLOT_SIZE)
    os.pwrite(fd, bytes(head), 0)
