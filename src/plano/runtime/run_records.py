"""What a supervisor writes in the run directory: the run record (its pid, workers, generation,
predecessor: what `plano reload` and `plano down` read) and the status files of reloads and
upgrades. Only the supervisor that owns the record writes: one that finds another live gateway
recorded there (a second `plano up` elsewhere) leaves it alone and says so."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from plano.config import Config
from plano.runtime import runstate

log = logging.getLogger("plano")


class RunRecords:
    def __init__(self, run_dir: Path | None, config_path: Path, predecessor: int | None) -> None:
        self.run_dir = run_dir
        self.config_path = config_path
        self.from_pid = predecessor  # the supervisor that handed its sockets over, if any
        self.owned = False

    def claim(self) -> None:
        """Own the record unless another live gateway holds it."""
        if self.run_dir is None:
            return
        record = runstate.read_record(self.run_dir)
        if (
            record is None
            or record.pid in (os.getpid(), self.from_pid)
            or not runstate.alive(record.pid)
        ):
            self.owned = True
        else:
            log.warning(
                "another gateway (pid %d) is recorded in %s: `plano reload`/`plano down` "
                "will not reach this one",
                record.pid,
                self.run_dir,
            )

    def write(self, config: Config, workers: list[int], generation: int, handed_over: bool) -> None:
        if not self.owned or self.run_dir is None or handed_over:
            return
        runstate.write_record(
            self.run_dir,
            runstate.RunRecord(
                pid=os.getpid(),
                config=str(self.config_path.resolve()),
                ports=[lc.port for lc in config.listeners],
                workers=workers,
                generation=generation,
                predecessor=self.predecessor(),
            ),
        )

    def predecessor(self) -> int:
        """The predecessor's pid while it still runs (draining), else 0."""
        pid = self.from_pid
        return pid if pid is not None and runstate.alive(pid) else 0

    def clear(self) -> None:
        if self.owned and self.run_dir is not None:
            runstate.clear_record(self.run_dir, os.getpid())

    def status(
        self, name: str, seq: int, generation: int, error: str | None, **extra: object
    ) -> None:
        if self.run_dir is None or not self.owned:
            return
        runstate.write_status(
            self.run_dir / name,
            seq=seq,
            generation=generation,
            error=error,
            pid=os.getpid(),
            **extra,
        )
