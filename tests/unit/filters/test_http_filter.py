"""`HttpFilter` against real aiohttp servers on 127.0.0.1, one event loop per test."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from plano.config.sections import FilterConfig
from plano.filters.chain import FilterContext, FilterFailed, FilterRejected
from plano.filters.http_filter import HttpFilter
from plano.upstream.lean import LeanTransport

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def with_filter(handler: Handler, body: bytes, *, deadline: float = 5.0) -> Any:
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = LeanTransport()
    await client.start()
    f = HttpFilter(
        FilterConfig(id="f", url=f"http://127.0.0.1:{port}/base", type="http"),
        client,
        timeout=deadline,
    )
    try:
        return await f.apply(body, "/v1/chat/completions", [("x-client", "1")], FilterContext())
    finally:
        await client.close()
        await runner.cleanup()


def test_body_out_is_the_new_body() -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["path"] = request.path
        seen["headers"] = request.headers.copy()
        return web.Response(body=(await request.read()).upper())

    assert asyncio.run(with_filter(handler, b'{"a":1}')) == b'{"A":1}'
    assert seen["path"] == "/base/v1/chat/completions"
    assert seen["headers"]["x-arch-upstream"] == "f"
    assert seen["headers"]["x-client"] == "1"
    assert seen["headers"]["content-type"] == "application/json"


def test_4xx_rejects_with_status_and_body() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=422, body=b"nope")

    with pytest.raises(FilterRejected) as info:
        asyncio.run(with_filter(handler, b"{}"))
    assert info.value.status == 422 and info.value.body == b"nope"


@pytest.mark.parametrize("status", [500, 503, 302])
def test_other_statuses_are_fatal(status: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"location": "/x"})

    with pytest.raises(FilterFailed) as info:
        asyncio.run(with_filter(handler, b"{}"))
    assert info.value.status == 500
    assert "Filter chain processing failed: filter 'f'" in info.value.message


def test_a_filter_that_never_answers_times_out() -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.Event().wait()  # cancelled when the filter client gives up
        raise AssertionError("unreachable")

    with pytest.raises(FilterFailed) as info:
        asyncio.run(with_filter(handler, b"{}", deadline=0.2))
    assert "did not answer in time" in info.value.message
