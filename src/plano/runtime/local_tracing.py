"""`plano up --with-tracing`: every worker traces every request to the local receiver.

The CLI starts the receiver (`plano trace listen`) and names its OTLP/gRPC endpoint in
`PLANO_WITH_TRACING`; each worker (its environment comes from the supervisor) applies it to the
config it loads, as the original injects `random_sampling: 100` when the config has none:
- no `tracing` section → one with `random_sampling: 100` and that endpoint;
- a section with sampling 0 → sampling 100; its endpoint is kept if the config sets one.
A config that already samples keeps its own settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # `plano up` reads ENV before any config is loaded
    from plano.config import Config

ENV: Final = "PLANO_WITH_TRACING"


def with_local_tracing(config: Config, env: Mapping[str, str]) -> Config:
    from plano.config.sections import TracingConfig

    endpoint = env.get(ENV)
    if not endpoint:
        return config
    tracing = config.tracing
    if tracing is None:
        tracing = TracingConfig(random_sampling=100, opentracing_grpc_endpoint=endpoint)
    elif tracing.random_sampling == 0:
        update: dict[str, object] = {"random_sampling": 100}
        if "opentracing_grpc_endpoint" not in tracing.model_fields_set:
            update["opentracing_grpc_endpoint"] = endpoint
        tracing = tracing.model_copy(update=update)
    else:
        return config
    return config.model_copy(update={"tracing": tracing})
