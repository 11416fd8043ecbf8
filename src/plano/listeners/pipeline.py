"""The request pipeline: every listener route is a list of stages compiled once at config load.

As an Envoy HTTP filter chain is compiled from its config, a listener compiles each of its routes
into a `Pipeline`: an ordered tuple of stage objects, config in `__init__`, per-request work in
`__call__`. A request becomes one `Call` (its identity, fixed when it arrives, and the decoded view
and working state the stages fill in, in order) and flows through the stages:

- a stage returns `None` to hand the call on, `DONE` when it answered the client itself, or a
  `PlanoError` *value* when the request ends in that error; it never raises to steer the flow;
- a `PlanoError` raised by code a stage calls (a codec, the router, a store) is a failure, not
  a branch: the pipeline answers it the same way as a returned one, in the client's dialect;
- a stage the config does not use is compiled to `None` and left out, so it costs nothing;
- sync stages (`SyncStage`) are called without a coroutine; async ones (`Stage`) are awaited.
  A sync stage whose usual path needs no I/O but whose rare one does (a cache miss) returns a
  coroutine (`Pending`) for the rare one: the pipeline awaits it, and the usual path makes no
  coroutine at all.

Telemetry goes to the call's `RequestRecord`, which sinks read once the request has ended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import CoroutineType
from typing import Any, Final, Generic, Protocol, TypeVar

from plano.errors import PlanoError
from plano.listeners.asgi import JSON_CT, ClientDisconnected, read_body, send_bytes, send_error
from plano.listeners.types import RawHeaders, Receive, Scope, Send
from plano.observability.record import RequestRecord
from plano.upstream.overload import OverloadGate
from plano.wire.api import Api, request_object


class Done:
    """What a stage returns when it has answered the client itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DONE"


DONE: Final = Done()
Outcome = Done | PlanoError | None
Pending = Coroutine[Any, Any, Outcome]  # what a sync stage returns when it must wait after all


class Releasable(Protocol):
    def release(self) -> None: ...


class Call:
    """One request on its way through a pipeline.

    Identity (set when the request arrives, never reassigned): the ASGI `scope`, `receive` and
    `send`, the `path`, the client's `api` and the telemetry `record`. Working state, written by
    the stages in order: the request `body` and its decoded JSON `doc`; `held` is what must be
    released when the request ends (an upstream response), whatever happened.
    """

    __slots__ = ("api", "body", "doc", "held", "path", "receive", "record", "scope", "send")

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, api: Api = Api.OPENAI_CHAT
    ) -> None:
        self.scope: Final = scope
        self.receive: Final = receive
        self.send: Final = send
        self.path: Final[str] = scope["path"]
        self.api: Final = api
        self.record: Final[RequestRecord] = scope["plano.record"]
        self.body = b""
        self.doc: dict[str, Any] = {}
        self.held: Releasable | None = None

    def failed(self, err: PlanoError) -> RawHeaders:
        """The request ends in `err`: note what telemetry needs; the headers of the error
        answer besides the error's own (the model listener adds its ids)."""
        return []


C = TypeVar("C", bound=Call)
C_contra = TypeVar("C_contra", bound=Call, contravariant=True)


class Stage(Generic[C_contra]):
    """An async stage: config in `__init__`, per-request work in `__call__`."""

    async def __call__(self, call: C_contra) -> Outcome:
        raise NotImplementedError


class SyncStage(Generic[C_contra]):
    """A stage without I/O: called directly, no coroutine made."""

    def __call__(self, call: C_contra) -> Outcome | Pending:
        raise NotImplementedError


AnyStage = Stage[C] | SyncStage[C]


class Pipeline(Generic[C]):
    """One route's stages, run in order for each request (`handler` is the ASGI entry)."""

    def __init__(
        self,
        make: Callable[[Scope, Receive, Send], C],
        stages: Sequence[AnyStage[C] | None],
        *,
        gate: OverloadGate | None = None,
    ) -> None:
        self._make = make
        self.stages: tuple[AnyStage[C], ...] = tuple(s for s in stages if s is not None)
        self._steps = tuple((s, not isinstance(s, SyncStage)) for s in self.stages)
        self._gate = gate

    @property
    def handler(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """The ASGI entry: the pipeline, inside the overload gate when one is configured (the
        gate holds its slot until the response has ended, so it wraps every stage)."""
        return self.run if self._gate is None else self._gated

    def names(self) -> list[str]:
        """The stages in order, as `docs/architecture.md` lists them (the overload gate, which
        wraps them all, first when there is one)."""
        gate = ["OverloadGate"] if self._gate is not None else []
        return gate + [type(s).__name__ for s in self.stages]

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = self._make(scope, receive, send)
        try:
            for stage, is_async in self._steps:
                out = stage(call)
                if is_async:
                    out = await out  # type: ignore[misc]
                if out is not None:
                    if type(out) is CoroutineType:  # a sync stage that must wait after all
                        out = await out
                        if out is None:
                            continue
                    if out is not DONE:
                        await answer_error(call, out)  # type: ignore[arg-type]
                    return
        except PlanoError as err:
            await answer_error(call, err)
        except ClientDisconnected:
            call.record.error_kind = "client_gone"
        finally:
            held = call.held
            if held is not None:
                call.held = None
                held.release()

    async def _gated(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self._gate
        assert gate is not None
        try:
            await gate.enter()
        except PlanoError as err:  # full: 503 at once
            scope["plano.record"].error_kind = err.kind
            await send_error(send, scope["path"], err)
            return
        try:
            await self.run(scope, receive, send)
        finally:
            gate.leave()


async def answer_error(call: Call, err: PlanoError) -> None:
    """The request ends in `err`: its own body (filter and agent errors keep the original's
    shape) or the client dialect's error envelope, with the call's headers."""
    record = call.record
    if record.error_kind != "client_gone":
        record.error_kind = err.kind
    headers = call.failed(err)
    own = err.own_body()
    if own is not None:
        await send_bytes(call.send, err.status, [JSON_CT], own)
    else:
        await send_error(call.send, call.path, err, headers)


class ReadBody(Stage[Call]):
    """Decode, part one: the whole request body, refused with 413 past the listener's limit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit

    async def __call__(self, call: Call) -> Outcome:
        body = call.body = await read_body(call.scope, call.receive, self._limit)
        call.record.bytes_in = len(body)
        return None


class DecodeJson(SyncStage[Call]):
    """Decode, part two: the body as a JSON object (400 in the client's dialect otherwise)."""

    def __call__(self, call: Call) -> Outcome:
        call.doc = request_object(call.body)
        return None
