"""The model listener (default :12000): the LLM proxy for every client API.

Each route is a pipeline of stages, compiled once here from the config; a stage the config does
not use is `None` and left out. Per request, top to bottom:

    ReadBody → Decode (JSON object, then the view: model, stream) → Authenticate (gateway keys)
    → InputFilters → KeepBody → Route
    → Build (resolve the model, the upstream request) → Authorize (key: model, budget)
    → ContinueConversation → ModelConversation (agentic signals: analysed after the answer)
    → RateLimit
    → Send (the exchange: retries, endpoints, fallbacks; first attempt inline)
    → Relay (passthrough bytes or translation; output filters) → RememberTurn

`count_tokens` has CountTokens before Send (the gateway's estimate for a provider without the
endpoint). Telemetry reads the request's `RequestRecord` once it has ended.
"""

from __future__ import annotations

from collections.abc import Callable

from plano.access.keys_access import KeyAccess
from plano.filters.chain import Chain
from plano.listeners.model.access import Authenticate, Authorize, ModelsForKey
from plano.listeners.model.build import Build, Builder, Decode
from plano.listeners.model.call import ModelCall
from plano.listeners.model.continuation import Continuation
from plano.listeners.model.embeddings import (
    EMBEDDINGS_HANDLER,
    EMBEDDINGS_PATH,
    BuildEmbeddings,
    DecodeEmbeddings,
    EmbeddingsBuilder,
    EmbeddingsCall,
    RelayEmbeddings,
)
from plano.listeners.model.relay import Relay
from plano.listeners.model.stages import (
    ContinueConversation,
    CountTokens,
    InputFilters,
    KeepBody,
    ListModels,
    RateLimit,
    RememberTurn,
    Route,
    Send,
)
from plano.listeners.model.translated import TranslatedExchange
from plano.listeners.model.translation import COUNT_PATH
from plano.listeners.pipeline import AnyStage, Call, DecodeJson, Pipeline, ReadBody
from plano.listeners.types import Receive, RequestIds, Scope
from plano.listeners.types import Route as RouteEntry
from plano.listeners.types import Send as AsgiSend
from plano.observability.telemetry import Telemetry
from plano.routing.resolve import ModelTable
from plano.routing.step import RoutingStep
from plano.state.conversations import ConversationStore
from plano.upstream.exchange import Exchange
from plano.upstream.policies import Resilience
from plano.upstream.transport import Transport
from plano.wire import anthropic_messages, openai_chat, openai_responses
from plano.wire.api import Api


class ModelListener:
    def __init__(
        self,
        models: ModelTable,
        transport: Transport,
        *,
        timeout: float,
        connect_timeout: float,
        max_body_bytes: int,
        models_body: bytes,
        telemetry: Telemetry,
        input_chain: Chain | None = None,
        output_chain: Chain | None = None,
        routing: RoutingStep | None = None,
        conversations: ConversationStore | None = None,
        resilience: Resilience | None = None,
        keep_body: bool = False,
        conversation: AnyStage[ModelCall] | None = None,
        keys: KeyAccess | None = None,
    ) -> None:
        self._ids = ids = RequestIds()
        builder = Builder(models, ids)
        translated = TranslatedExchange(telemetry, conversations, output_chain)
        r = resilience
        exchange = Exchange(
            transport,
            r.policies if r is not None else {},
            r.alias_fallbacks if r is not None else {},
            deadline=timeout,
            connect_timeout=connect_timeout,
            rebuild=builder.rebuild,
            events=r.events if r is not None else None,
        )
        self._gate = r.gate if r is not None else None
        route = Route(routing, telemetry) if routing is not None else None
        self._head: list[AnyStage[ModelCall] | None] = [
            ReadBody(max_body_bytes),
            DecodeJson(),
            Decode(),
            Authenticate(keys) if keys is not None else None,
            InputFilters(input_chain, telemetry) if input_chain is not None else None,
            KeepBody() if keep_body else None,
            route,
            Build(builder),
            Authorize(keys) if keys is not None else None,
        ]
        self._limit = RateLimit(r.limiter) if r is not None and r.limiter is not None else None
        self._count = CountTokens(translated)
        self._continue = ContinueConversation(conversations, builder, timeout)
        self._conversation = conversation  # agentic signals: keep it for the analysis
        self._tail: list[AnyStage[ModelCall] | None] = [
            Send(exchange),
            Relay(telemetry, translated, output_chain, Continuation(exchange, builder.rebuild)),
            RememberTurn(routing) if routing is not None else None,
        ]
        self._list = ListModels(models_body)
        # /v1/embeddings: its own builder and exchange (same transport, policies and circuits).
        embedder = EmbeddingsBuilder(models, ids)
        self._embed_exchange = Exchange(
            transport,
            r.policies if r is not None else {},
            r.alias_fallbacks if r is not None else {},
            deadline=timeout,
            connect_timeout=connect_timeout,
            rebuild=embedder.rebuild,
            events=r.events if r is not None else None,
        )
        self._embed_build = BuildEmbeddings(embedder)
        self._max_body = max_body_bytes
        self._keys = keys
        self._models_for_key = ModelsForKey(models_body) if keys is not None else None

    def pipeline(self, api: Api, path: str) -> Pipeline[ModelCall]:
        """The stages of one proxy route, in order."""
        middle: list[AnyStage[ModelCall] | None] = [
            self._continue if api is Api.OPENAI_RESPONSES else None,
            self._conversation if path != COUNT_PATH else None,
            self._limit,
            self._count if path == COUNT_PATH else None,
        ]
        return Pipeline(self._make(api), [*self._head, *middle, *self._tail], gate=self._gate)

    def embeddings_pipeline(self) -> Pipeline[EmbeddingsCall]:
        """`POST /v1/embeddings` (see `listeners.model.embeddings`)."""
        keys = self._keys
        ids = self._ids

        def make(scope: Scope, receive: Receive, send: AsgiSend) -> EmbeddingsCall:
            return EmbeddingsCall(scope, receive, send, ids)

        stages: list[AnyStage[EmbeddingsCall] | None] = [
            ReadBody(self._max_body),
            DecodeJson(),
            DecodeEmbeddings(),
            Authenticate(keys) if keys is not None else None,
            self._embed_build,
            Authorize(keys) if keys is not None else None,
            self._limit,
            Send(self._embed_exchange),
            RelayEmbeddings(),
        ]
        return Pipeline(make, stages, gate=self._gate)

    def routes(self) -> dict[tuple[str, str], RouteEntry]:
        def proxy(api: Api, path: str) -> RouteEntry:
            return RouteEntry("llm_chat", self.pipeline(api, path).handler)

        keys = self._keys
        auth = Authenticate(keys) if keys is not None else None
        models = Pipeline(Call, [auth, self._models_for_key, self._list])
        return {
            ("POST", openai_chat.PATH): proxy(Api.OPENAI_CHAT, openai_chat.PATH),
            ("POST", anthropic_messages.PATH): proxy(
                Api.ANTHROPIC_MESSAGES, anthropic_messages.PATH
            ),
            ("POST", openai_responses.PATH): proxy(Api.OPENAI_RESPONSES, openai_responses.PATH),
            ("POST", COUNT_PATH): proxy(Api.ANTHROPIC_MESSAGES, COUNT_PATH),
            ("POST", EMBEDDINGS_PATH): RouteEntry(
                EMBEDDINGS_HANDLER, self.embeddings_pipeline().handler
            ),
            ("GET", "/v1/models"): RouteEntry("list_models", models.run),
        }

    def _make(self, api: Api) -> Callable[[Scope, Receive, AsgiSend], ModelCall]:
        ids = self._ids

        def make(scope: Scope, receive: Receive, send: AsgiSend) -> ModelCall:
            return ModelCall(scope, receive, send, api, ids)

        return make
