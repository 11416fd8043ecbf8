"""The supervisor's listening sockets: one SO_REUSEPORT socket per listener (and admin) per slot.

A *slot* is a worker position. Its sockets are bound once and stay open in the supervisor for the
life of the slot; each worker of the slot (the first, a replacement after a crash, the next
generation after a reload) inherits the same ones. Connections queued in a slot's socket thus
survive the death of its worker, and a reload or upgrade never refuses a connection.

Sockets are keyed by what they bind, `(kind, address, port)` as the config says it, so a reload
keeps every socket whose listener still binds the same address and port, binds new ones, and
closes the rest once the old generation is gone. A rolling upgrade exports the table (kinds,
addresses, ports, file descriptors) to the new supervisor, which adopts it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from plano.config import Config
from plano.listeners.admin import AdminSettings
from plano.runtime.serve import BindError, bind, bind_admin

Key = tuple[str, str, int]  # ("listener" | "admin", address, port)


def listener_key(address: str, port: int) -> Key:
    return ("listener", address, port)


def admin_key(admin: AdminSettings) -> Key:
    return ("admin", admin.address, admin.port)


def wanted(config: Config, admin: AdminSettings | None) -> dict[Key, str]:
    """Every socket `config` needs, with what it is for (for messages)."""
    keys = {listener_key(lc.address, lc.port): f"listener '{lc.name}'" for lc in config.listeners}
    if admin is not None:
        keys[admin_key(admin)] = "admin listener"
    return keys


class SocketTable:
    def __init__(self, slots: int) -> None:
        self.slots: list[dict[Key, socket.socket]] = [{} for _ in range(slots)]

    def keys(self) -> set[Key]:
        return set().union(*(s.keys() for s in self.slots)) if self.slots else set()

    def ensure(self, config: Config, admin: AdminSettings | None) -> list[Key]:
        """Bind, in every slot, each socket `config` needs and the table lacks; returns the keys
        bound now. Raises BindError (naming the listener and address) and binds nothing then."""
        added: list[Key] = []
        try:
            for key, what in wanted(config, admin).items():
                if all(key in s for s in self.slots):
                    continue
                self._bind_key(key, what, admin)
                added.append(key)
        except OSError:
            self.close(added)
            raise
        return added

    def _bind_key(self, key: Key, what: str, admin: AdminSettings | None) -> None:
        kind, address, port = key
        missing = [s for s in self.slots if key not in s]
        existing = [s[key] for s in self.slots if key in s]
        if port != 0 and not existing:
            # A plain bind first: it fails if anyone (even a SO_REUSEPORT socket of another
            # gateway of the same user) holds the port, which the sharing bind would not notice.
            self._bind_one(kind, address, port, what, admin, reuse_port=False).close()
        if port == 0 and existing:
            port = int(existing[0].getsockname()[1])
        for slot in missing:
            sock = self._bind_one(kind, address, port, what, admin, reuse_port=True)
            slot[key] = sock
            port = int(sock.getsockname()[1])  # port 0: every slot on the port the first got

    @staticmethod
    def _bind_one(
        kind: str,
        address: str,
        port: int,
        what: str,
        admin: AdminSettings | None,
        *,
        reuse_port: bool,
    ) -> socket.socket:
        if kind == "admin" and admin is not None:
            return bind_admin(AdminSettings(address, port), reuse_port=reuse_port).sock
        try:
            return bind(address, port, reuse_port=reuse_port)
        except OSError as exc:
            raise BindError(
                exc.errno, f"{what} cannot bind {address}:{port}: {exc.strerror}"
            ) from exc

    def listener_fds(self, slot: int, config: Config) -> dict[str, int]:
        socks = self.slots[slot]
        return {
            lc.name: socks[listener_key(lc.address, lc.port)].fileno() for lc in config.listeners
        }

    def admin_fd(self, slot: int, admin: AdminSettings | None) -> int | None:
        return None if admin is None else self.slots[slot][admin_key(admin)].fileno()

    def close(self, keys: Iterable[Key]) -> None:
        for key in list(keys):
            for slot in self.slots:
                sock = slot.pop(key, None)
                if sock is not None:
                    sock.close()

    def retain(self, keep: set[Key]) -> None:
        self.close(self.keys() - keep)

    def close_all(self) -> None:
        self.close(self.keys())

    def all_fds(self) -> list[int]:
        return [sock.fileno() for slot in self.slots for sock in slot.values()]

    def export(self) -> list[list[list[Any]]]:
        """For a successor supervisor: per slot, `[kind, address, port, fd]` of each socket."""
        return [[[k[0], k[1], k[2], s.fileno()] for k, s in slot.items()] for slot in self.slots]

    @classmethod
    def adopt(cls, exported: list[list[list[Any]]], slots: int) -> SocketTable:
        """The table of a predecessor; slots beyond `slots` are closed, missing ones start empty."""
        table = cls(slots)
        for i, entries in enumerate(exported):
            for kind, address, port, fd in entries:
                sock = socket.socket(fileno=int(fd))
                if i < slots:
                    table.slots[i][(str(kind), str(address), int(port))] = sock
                else:
                    sock.close()
        return table
