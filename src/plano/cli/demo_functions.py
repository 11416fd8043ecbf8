"""`plano demo functions`: prompt targets end to end, offline.

Starts the fake LLM (it plays Arch-Function, the function-calling model, and the default LLM), a
tiny local weather API and a gateway with a prompt listener and a model listener, then runs a
short conversation with the OpenAI SDK: a question the gateway must ask back about (a required
parameter is missing), the follow-up that completes the call (streamed, showing the two chunks
the prompt listener prepends), and a prompt no target fits.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import click

from plano.cli.extras import require_extra

_CONFIG = """\
version: v0.3.0
listeners:
  - {{type: prompt, name: prompt_listener, address: 127.0.0.1, port: 0}}
  - {{type: model, name: model_listener, address: 127.0.0.1, port: 0}}
endpoints:
  weather_forecast_service: {{endpoint: "127.0.0.1:{api_port}"}}
model_providers:
  - {{model: openai/gpt-4o, access_key: demo-key, base_url: "{llm}", default: true}}
  - {{model: openai/Arch-Function, access_key: demo-key, base_url: "{llm}"}}
system_prompt: You are a helpful assistant.
prompt_targets:
  - name: get_current_weather
    description: Get current weather at a location.
    parameters:
      - name: location
        description: The location to get the weather for
        required: true
        type: string
        format: City, State
      - {{name: days, description: the number of days for the request, required: true, type: int}}
    endpoint: {{name: weather_forecast_service, path: /weather, http_method: POST}}
    system_prompt: You are a weather expert. Summarise the forecast in the context.
"""


class _WeatherApi(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        args = json.loads(self.rfile.read(length) or b"{}")
        self.received.append({"path": self.path, "body": args})
        days = int(args.get("days", 1))
        forecast = [{"day": d + 1, "temp_c": 14 + d, "sky": "light rain"} for d in range(days)]
        body = json.dumps({"location": args.get("location"), "forecast": forecast}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return None


@contextmanager
def _weather_api() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("WeatherApi", (_WeatherApi,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


@click.command("functions")
def demo_functions() -> None:
    """Prompt targets offline: a clarification turn, a completed API call, no target."""
    require_extra("demo", "plano demo functions")
    import openai

    from plano.config import load_config_text
    from plano.mock.testing import run_mock_in_thread
    from plano.observability.access_log import AccessLog
    from plano.observability.telemetry import Telemetry
    from plano.runtime.serve import gateway_in_thread

    access = io.StringIO()
    with run_mock_in_thread() as llm, _weather_api() as (api_port, received):
        text = _CONFIG.format(llm=llm.base_url, api_port=api_port)
        config = load_config_text(text, source="demo", env={})
        telemetry = Telemetry(records=[AccessLog("text", access)])
        with gateway_in_thread(config, telemetry=telemetry) as gw:
            click.echo(f"fake LLM (Arch-Function and gpt-4o): {llm.base_url}")
            click.echo(f"weather API:                         http://127.0.0.1:{api_port}")
            click.echo(f"plano prompt listener:               {gw.url('prompt')}/v1\n")
            client = openai.OpenAI(base_url=f"{gw.url('prompt')}/v1", api_key="x", max_retries=0)
            llm.script(
                {"model": "gpt-4o", "text": "Seattle: light rain, 14 to 16°C over 3 days."},
                {"model": "gpt-4o", "text": "Why do APIs never get lost? They follow the docs."},
            )
            history = _turns(client, received)
            _no_target(client, history)
    click.secho("\n4. the gateway's access log", bold=True)
    click.echo(access.getvalue().rstrip())
    click.echo("\nall stopped. Next: docs/prompt-targets.md")


def _turns(client: Any, received: list[dict[str, Any]]) -> list[Any]:
    history: list[Any] = [{"role": "user", "content": "What is the weather in Seattle?"}]
    click.secho("1. user: What is the weather in Seattle?", bold=True)
    reply = client.chat.completions.create(model="gpt-4o", messages=history)
    question = reply.choices[0].message.content
    click.echo(f"   Arch-Function found a target but no 'days': it asks back ({reply.model})")
    click.echo(f"   assistant: {question}")
    click.echo(f"   weather API calls so far: {len(received)}\n")
    history += [{"role": "assistant", "content": question}, {"role": "user", "content": "3 days"}]
    click.secho("2. user: 3 days   (streamed)", bold=True)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=history, stream=True))
    call = chunks[0].choices[0].delta.tool_calls[0].function
    click.echo(f"   chunk 1 ({chunks[0].model}): tool call {call.name}({call.arguments})")
    click.echo(f"   weather API received: POST {received[-1]['path']} {received[-1]['body']}")
    api = chunks[1].choices[0].delta.content or ""
    click.echo(f"   chunk 2 ({chunks[1].model}, role tool): {api[:70]}…")
    answer = "".join(c.choices[0].delta.content or "" for c in chunks[2:] if c.choices)
    click.echo(f"   then the default LLM ({chunks[-1].model}) answers with it as context:")
    click.echo(f"   assistant: {answer}\n")
    return [*history, {"role": "assistant", "content": answer}]


def _no_target(client: Any, history: list[Any]) -> None:
    click.secho("3. user: Tell me a joke   (no target fits, no default target)", bold=True)
    messages = [*history, {"role": "user", "content": "Tell me a joke"}]
    reply = client.chat.completions.create(model="gpt-4o", messages=messages)
    click.echo(f"   the conversation goes to the default LLM ({reply.model}):")
    click.echo(f"   assistant: {reply.choices[0].message.content}")
