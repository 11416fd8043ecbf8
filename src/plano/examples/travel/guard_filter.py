"""HTTP guard filter (`type: http`): rejects prompt-injection phrases with 400, else passes it on.

Plano POSTs the request JSON to `{url}{path}`; a 2xx body is the (possibly changed) request, a 4xx
stops the request before any agent or model sees it.
"""

from __future__ import annotations

from aiohttp import web
from service import parse_args, run_aiohttp

BLOCKED = ("ignore previous instructions", "reveal your system prompt")


async def guard(request: web.Request) -> web.Response:
    body = await request.json()
    last = body.get("messages", [{}])[-1].get("content") or ""
    text = last if isinstance(last, str) else str(last)
    for phrase in BLOCKED:
        if phrase in text.lower():
            return web.json_response({"error": f"blocked by content guard: {phrase!r}"}, status=400)
    return web.json_response(body)


def app() -> web.Application:
    application = web.Application()
    application.router.add_post("/{path:.*}", guard)
    return application


if __name__ == "__main__":
    args = parse_args(10500)
    run_aiohttp(app(), args.host, args.port)
