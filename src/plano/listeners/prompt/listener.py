"""Prompt listeners (`type: prompt`, and the legacy `ingress_traffic`): prompt targets.

`/v1/chat/completions` is a pipeline (`listeners.pipeline`), compiled once:

    ReadBody → DecodeJson → [Authenticate: gateway keys] → [Guards: prompt_guards] → ChatView
    → SubCallHeaders → DetectIntent → Clarify → CheckCall → CallEndpoint → Respond

`DetectIntent` asks the function-calling model (Arch-Function's protocol, or native tool calling
for any other model) which target the conversation wants; `Clarify` answers with its question
when a required value is missing (or a value was a guess); `CheckCall` validates the first tool
call against the target's parameters; `CallEndpoint` calls the target's API (or the default
target's, when nothing fits); `Respond` answers with the API's body, or has the default LLM answer
with it as context. Both model calls run the model listener's pipeline in-process (`inner`).
"""

from __future__ import annotations

from plano.access.keys_access import KeyAccess
from plano.agents.prompt_targets.arch_function import is_arch_function
from plano.agents.prompt_targets.tools import TargetTable, build_targets
from plano.config import Config, ListenerConfig
from plano.config.provider_wiring import ARCH_FUNCTION_MODEL
from plano.filters.chain import Chain
from plano.listeners.model.access import Authenticate
from plano.listeners.model.listener import ModelListener
from plano.listeners.pipeline import AnyStage, DecodeJson, Pipeline, ReadBody
from plano.listeners.prompt.backends import ArchFunction, FunctionCaller, NativeTools
from plano.listeners.prompt.call import PromptCall
from plano.listeners.prompt.endpoint import DEFAULT_TIMEOUT, CallEndpoint, CheckCall
from plano.listeners.prompt.inner import InnerModel
from plano.listeners.prompt.respond import Clarify, Outcomes, Respond
from plano.listeners.prompt.stages import ChatView, DetectIntent, Guards, SubCallHeaders
from plano.listeners.types import RequestIds, Route
from plano.observability.telemetry import Telemetry
from plano.routing.resolve import ModelTable
from plano.upstream.transport import Transport
from plano.wire import openai_chat


def function_caller(
    config: Config, models: ModelTable, inner: InnerModel, table: TargetTable
) -> FunctionCaller:
    """The backend the config asks for: `overrides.function_calling_model` (default
    Arch-Function), asked with the Arch-Function protocol when its name is one of
    Arch-Function's (or `function_calling_backend: arch_function`), else with native tools."""
    o = config.overrides
    wanted = o.function_calling_model or ARCH_FUNCTION_MODEL
    model_id = models.resolve(wanted).model_id if wanted != ARCH_FUNCTION_MODEL else wanted
    backend = o.function_calling_backend
    if backend == "arch_function" or (backend == "auto" and is_arch_function(model_id)):
        return ArchFunction(
            inner,
            wanted,
            list(table.tools),
            optimize_context=o.optimize_context_window,
            agent=o.use_agent_orchestrator,
        )
    return NativeTools(inner, wanted, list(table.schema_tools))


class PromptListener:
    def __init__(
        self,
        table: TargetTable,
        caller: FunctionCaller,
        inner: InnerModel,
        models: ModelTable,
        transport: Transport,
        *,
        system_prompt: str | None,
        max_body_bytes: int,
        telemetry: Telemetry,
        trace_values: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        guards: Chain | None = None,
        keys: KeyAccess | None = None,
    ) -> None:
        outcomes = Outcomes(telemetry)
        stages: list[AnyStage[PromptCall] | None] = [
            ReadBody(max_body_bytes),
            DecodeJson(),
            Authenticate(keys) if keys is not None else None,
            Guards(guards, telemetry) if guards is not None else None,
            ChatView(),
            SubCallHeaders(RequestIds()),
            DetectIntent(caller, table, telemetry),
            Clarify(outcomes),
            CheckCall(table, outcomes),
            CallEndpoint(transport, telemetry, trace_values, timeout),
            Respond(inner, models, system_prompt, telemetry, outcomes),
        ]
        self.chat = Pipeline(PromptCall, stages)

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", openai_chat.PATH): Route("prompt_chat", self.chat.handler)}


def build_prompt_listener(
    listener: ListenerConfig,
    config: Config,
    models: ModelTable,
    transport: Transport,
    *,
    connect_timeout: float,
    max_body_bytes: int,
    telemetry: Telemetry,
    guards: Chain | None = None,
    keys: KeyAccess | None = None,
) -> PromptListener:
    """Compile one prompt listener: its targets, the function-calling backend, and the model
    pipeline both model calls go through."""
    agents = {a.id: str(a.url) for a in config.agents}
    table = build_targets(config.prompt_targets, config.endpoints, agents)
    model = ModelListener(
        models,
        transport,
        timeout=listener.timeout,
        connect_timeout=connect_timeout,
        max_body_bytes=max_body_bytes,
        models_body=b"",
        telemetry=telemetry,
    )
    inner = InnerModel(model)
    return PromptListener(
        table,
        function_caller(config, models, inner, table),
        inner,
        models,
        transport,
        system_prompt=config.system_prompt,
        max_body_bytes=max_body_bytes,
        telemetry=telemetry,
        trace_values=config.overrides.trace_prompt_arguments,
        timeout=min(listener.timeout, DEFAULT_TIMEOUT),
        guards=guards,
        keys=keys,
    )
