"""`plano demo`: a gateway and a fake upstream on free ports, driven by the official OpenAI SDK.

Needs no API key and no network: everything runs on 127.0.0.1 and stops when the demo ends.
"""

from __future__ import annotations

import io
import time
from typing import Any

import click

from plano.cli.demo_agents import demo_agents
from plano.cli.demo_functions import demo_functions
from plano.cli.extras import require_extra

_CONFIG = """\
version: v0.4.0
listeners:
  - {{name: model_listener, type: model, address: 127.0.0.1, port: 0, timeout: 30s}}
model_providers:
  - model: openai/gpt-4o
    access_key: demo-key-not-a-secret
    base_url: {upstream}
    default: true
  - model: openai/gpt-4o-mini
    access_key: demo-key-not-a-secret
    base_url: {upstream}
model_aliases:
  fast: {{target: gpt-4o-mini}}
"""


@click.group(invoke_without_command=True)
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run a request through Plano offline and show what happened (`demo agents`: the agents;
    `demo functions`: prompt targets)."""
    if ctx.invoked_subcommand is not None:
        return
    require_extra("demo", "plano demo")
    import openai

    from plano.config import load_config_text
    from plano.mock.testing import run_mock_in_thread
    from plano.observability.access_log import AccessLog
    from plano.observability.telemetry import Telemetry
    from plano.runtime.serve import gateway_in_thread

    with run_mock_in_thread() as upstream:
        config = load_config_text(_CONFIG.format(upstream=upstream.base_url), source="demo", env={})
        access = io.StringIO()
        telemetry = Telemetry(records=[AccessLog("text", access)])
        with gateway_in_thread(config, telemetry=telemetry) as gw:
            click.echo(f"fake upstream (OpenAI-compatible): {upstream.base_url}")
            click.echo(f"plano model listener:            {gw.url()}/v1\n")
            client = openai.OpenAI(
                base_url=f"{gw.url()}/v1", api_key="unused-by-plano", max_retries=0
            )
            _non_streaming(client)
            _streaming(client)
            _show_upstream(upstream.requests)
    click.secho("\n4. the gateway's access log (one line per request)", bold=True)
    click.echo(access.getvalue().rstrip())
    click.echo("\nboth stopped. Next: `plano up your_config.yaml` (see README).")


def _non_streaming(client: Any) -> None:
    click.secho("1. non-streaming, model alias 'fast'", bold=True)
    t0 = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "Say hello to Plano."}]
    )
    ms = (time.perf_counter() - t0) * 1000
    completion = raw.parse()
    click.echo(f"   resolved model (x-plano-model): {raw.headers.get('x-plano-model')}")
    click.echo(f"   reply: {completion.choices[0].message.content!r}")
    click.echo(
        f"   usage: {completion.usage.prompt_tokens} prompt + "
        f"{completion.usage.completion_tokens} completion tokens; {ms:.1f} ms\n"
    )


def _streaming(client: Any) -> None:
    click.secho("2. streaming, no model named (served by the default provider)", bold=True)
    t0 = time.perf_counter()
    first = None
    parts: list[str] = []
    with client.chat.completions.with_streaming_response.create(
        model="", stream=True, messages=[{"role": "user", "content": "Stream a short answer."}]
    ) as resp:
        click.echo(f"   resolved model (x-plano-model): {resp.headers.get('x-plano-model')}")
        for chunk in resp.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter()
                parts.append(chunk.choices[0].delta.content)
    total = (time.perf_counter() - t0) * 1000
    ttft = ((first or time.perf_counter()) - t0) * 1000
    click.echo(f"   {len(parts)} chunks: {''.join(parts)!r}")
    click.echo(f"   time to first token {ttft:.1f} ms, total {total:.1f} ms\n")


def _show_upstream(requests: Any) -> None:
    click.secho("3. what the upstream received", bold=True)
    for req in requests:
        body = req.body if isinstance(req.body, dict) else {}
        auth = req.headers.get("authorization", "")
        shown = auth[:12] + "…" if auth else "(none)"
        click.echo(
            f"   {req.method} {req.path}  model={body.get('model')!r}  "
            f"stream={body.get('stream', False)}  authorization={shown}"
        )


demo.add_command(demo_agents)
demo.add_command(demo_functions)
