"""What both travel agents share: an OpenAI-compatible `POST /v1/chat/completions` endpoint that
answers by asking an LLM through Plano's model listener, with the caller's trace context passed on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from openai import AsyncOpenAI
from service import gateway_url

_PASSED = ("traceparent", "tracestate", "x-request-id")


def agent_app(
    system_prompt: str, model: str, prepare: Callable[[list[Any]], list[Any]]
) -> web.Application:
    llm = AsyncOpenAI(base_url=gateway_url(), api_key="unused-plano-holds-the-keys", max_retries=0)

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        messages = [{"role": "system", "content": system_prompt}, *prepare(body["messages"])]
        headers = {k: request.headers[k] for k in _PASSED if k in request.headers}
        if not body.get("stream"):
            reply = await llm.chat.completions.create(
                model=model, messages=messages, extra_headers=headers
            )
            return web.json_response(reply.model_dump(exclude_none=True))
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        stream = await llm.chat.completions.create(
            model=model, messages=messages, stream=True, extra_headers=headers
        )
        async for chunk in stream:
            await resp.write(
                f"data: {json.dumps(chunk.model_dump(exclude_none=True))}\n\n".encode()
            )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app
