"""MCP rewrite filter (`type: mcp`, the default), built with the `mcp` SDK over streamable HTTP.

Plano calls the tool named after the filter id with `{"body": <request>, "path": <api path>}` and
uses the returned JSON as the new request. Raising `ToolError` rejects the request with 400.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from service import announce, bound_socket, parse_args

server = MCPServer("query_rewriter", log_level="WARNING")


@server.tool()
def query_rewriter(body: dict[str, Any], path: str) -> dict[str, Any]:
    """Spell out relative dates so the agent sees an explicit day."""
    messages = body.get("messages") or []
    if not messages:
        raise ToolError("the request has no messages")
    last = messages[-1]
    if isinstance(last.get("content"), str) and "tomorrow" in last["content"]:
        last["content"] = last["content"].replace("tomorrow", "tomorrow (the day after today)")
    return body


if __name__ == "__main__":
    args = parse_args(10501)
    sock = bound_socket(args.host, args.port)
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
    uv = uvicorn.Server(config)
    original = uv.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        announce(sock.getsockname()[1])

    uv.startup = startup  # type: ignore[method-assign]
    uv.run(sockets=[sock])
