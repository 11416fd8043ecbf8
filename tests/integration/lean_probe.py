"""Runs Plano in a process where the optional packages cannot be imported (a core-only install).

    python lean_probe.py numpy,redis,... cli <plano arguments>   # the CLI, as `plano ...`
    python lean_probe.py numpy,redis,... serve                   # fake LLM + gateway; prints
                                                                 # `READY <model listener URL>`,
                                                                 # stops when stdin closes

A `sys.meta_path` finder placed first raises ModuleNotFoundError for every listed top-level
package (and its submodules), as Python does when the package is not installed.
"""

from __future__ import annotations

import sys
from typing import Any

BLOCKED = frozenset(sys.argv[1].split(","))


class _NotInstalled:
    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)


sys.meta_path.insert(0, _NotInstalled())

CONFIG = """\
version: v0.4.0
listeners:
  - {{name: model_listener, type: model, address: 127.0.0.1, port: 0, timeout: 30s}}
model_providers:
  - model: openai/gpt-4o-mini
    access_key: not-a-secret
    base_url: {upstream}
    default: true
"""


def serve() -> None:
    from plano.config import load_config_text
    from plano.mock.testing import run_mock_in_thread
    from plano.runtime.serve import gateway_in_thread

    with run_mock_in_thread() as llm:
        config = load_config_text(CONFIG.format(upstream=llm.base_url), source="probe", env={})
        with gateway_in_thread(config) as gw:
            print(f"READY {gw.url('model')}", flush=True)
            sys.stdin.read()  # until the test closes it
    loaded = sorted(BLOCKED & {m.partition(".")[0] for m in sys.modules})
    print(f"LOADED {','.join(loaded) or '-'}", flush=True)


if __name__ == "__main__":
    if sys.argv[2] == "serve":
        serve()
    else:
        from plano.cli.main import main

        sys.argv = ["plano", *sys.argv[3:]]
        main()
