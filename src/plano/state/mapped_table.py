"""What the fixed-size tables shared between processes through a mapped file have in common.

The provider health table (`plano.upstream.health_table`) and the keys' spend table
(`keys_spend`) are files of fixed size, mapped by every process that uses them, with a header
(magic, slot count, slot size) that says whether the file is one this version can read, and
writes serialised by a lock held both within the process and across processes.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
from collections.abc import Callable
from typing import Final

HEADER: Final = struct.Struct("<8sII")  # magic, slots, slot size


def header_ok(fd: int, size: int, magic: bytes, slots: int, slot_size: int) -> bool:
    """Whether the file at `fd` is a table of `size` bytes with this header."""
    if os.fstat(fd).st_size != size:
        return False
    head = os.pread(fd, HEADER.size, 0)
    return len(head) == HEADER.size and HEADER.unpack(head) == (magic, slots, slot_size)


class Locked:
    """Held: no other thread of this process and no other process writes the table. `posix`:
    a POSIX record lock (`lockf`, per process), else `flock` (per open file)."""

    __slots__ = ("_fd", "_lock", "_op")

    def __init__(self, lock: threading.Lock, fd: int, *, posix: bool) -> None:
        self._lock = lock
        self._fd = fd
        self._op: Callable[[int, int], object] = fcntl.lockf if posix else fcntl.flock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._op(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            self._op(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()
