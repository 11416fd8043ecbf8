"""`plano up --foreground`: a supervisor process and N worker processes, whatever N (≥ 1).

The supervisor (`plano.runtime.supervisor`) binds one SO_REUSEPORT socket per listener (and the
admin listener) for each worker slot and keeps them open; each worker
(`python -m plano.runtime.worker`) serves its slot's inherited sockets. The supervisor prints one
`plano ready` line when all workers serve, replaces a worker that dies, reloads on SIGHUP, hands
over to a new supervisor on SIGUSR2 (rolling upgrade), and drains on SIGTERM/SIGINT. It also owns
the run's metrics directory (prometheus-client multiprocess mode). In-process serving for tests
and `plano demo` is `plano.runtime.serve` (`gateway_in_thread`, `run_worker`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from plano.config import Config
from plano.listeners.admin import AdminSettings, admin_conflict
from plano.runtime.supervisor import Options, Supervisor


def serve(
    config: Config,
    config_path: Path,
    *,
    workers: int,
    max_body_bytes: int,
    announce: Callable[[str], None],
    admin: AdminSettings | None = None,
    run_dir: Path | None = None,
    watch: bool = False,
    verbose: bool = False,
) -> int:
    """Serve `config` with `workers` processes; returns the exit status. `admin`: where the
    admin listener (`/metrics`) binds, None for none. `run_dir`: where the run record and the
    reload/upgrade status files live (None: not recorded, so no `plano reload`/`down`)."""
    if workers < 1:
        announce(f"error: --workers must be at least 1 (got {workers})")
        return 2
    conflict = admin_conflict(config, admin, workers)
    if conflict is not None:
        announce(f"error: {conflict}")
        return 2
    if workers > 1 and any(lc.port == 0 for lc in config.listeners):
        announce("error: port 0 (any free port) needs --workers 1: workers must share a port")
        return 2
    options = Options(
        config_path=config_path,
        workers=workers,
        max_body_bytes=max_body_bytes,
        announce=announce,
        admin=admin,
        run_dir=run_dir,
        watch=watch,
        verbose=verbose,
    )
    return Supervisor(options, config).run()
