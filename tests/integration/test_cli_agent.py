"""`plano cli-agent claude|codex`: the tool runs against the running gateway, with its base URL.

Stand-ins for `claude` and `codex` on PATH are small scripts that do what those tools do with
the environment they are given: call the gateway with the official SDK of their API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from plano.config import load_config
from plano.runtime.serve import gateway_in_thread
from tests.integration.test_processes import SRC, free_port

pytestmark = pytest.mark.integration

CLAUDE = f"""#!{sys.executable}
import json, os, sys
import anthropic
client = anthropic.Anthropic(base_url=os.environ["ANTHROPIC_BASE_URL"],
                             auth_token=os.environ["ANTHROPIC_AUTH_TOKEN"], max_retries=0)
reply = client.messages.create(model="gpt-4o", max_tokens=64,
                               messages=[{{"role": "user", "content": "hello from claude"}}])
json.dump({{"text": reply.content[0].text, "args": sys.argv[1:],
           "small": os.environ.get("ANTHROPIC_SMALL_FAST_MODEL")}}, sys.stdout)
sys.exit(3)
"""

CODEX = f"""#!{sys.executable}
import json, os, sys
import openai
client = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
reply = client.chat.completions.create(model="gpt-4o",
                                       messages=[{{"role": "user", "content": "hello from codex"}}])
json.dump({{"text": reply.choices[0].message.content, "args": sys.argv[1:],
           "ci": os.environ.get("CI")}}, sys.stdout)
"""


def _tool(bin_dir: Path, name: str, text: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(text)
    path.chmod(0o755)


def _config(tmp_path: Path, upstream: Any, port: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "version: v0.4.0\n"
        f"listeners: [{{name: llm, type: model, address: 127.0.0.1, port: {port}}}]\n"
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o, access_key: k, base_url: '{upstream.base_url}', "
        "default: true}\n"
        "model_aliases: {arch.claude.code.small.fast: {target: gpt-4o}}\n"
    )
    return path


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "plano", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_claude_and_codex_reach_the_gateway(tmp_path: Path, upstream: Any) -> None:
    _tool(tmp_path / "bin", "claude", CLAUDE)
    _tool(tmp_path / "bin", "codex", CODEX)
    port = free_port()
    path = _config(tmp_path, upstream, port)
    with gateway_in_thread(load_config(path, env={})):
        claude = _run(tmp_path, "cli_agent", "claude", str(path), "--", "-p", "hi")
        codex = _run(
            tmp_path,
            "cli-agent",
            "codex",
            str(path),
            "--settings",
            '{"NON_INTERACTIVE_MODE": true}',
        )
    assert claude.returncode == 3, claude.stderr  # the tool's own exit status
    out = json.loads(claude.stdout)
    assert "hello from claude" in out["text"]
    assert out["args"] == ["-p", "hi"] and out["small"] == "arch.claude.code.small.fast"
    assert codex.returncode == 0, codex.stderr
    out = json.loads(codex.stdout)
    assert "hello from codex" in out["text"]
    assert out["args"] == ["--model", "gpt-5.3-codex"] and out["ci"] == "true"
    sent = [json.dumps(r.body) for r in upstream.requests]
    assert any("hello from claude" in b for b in sent)  # Messages, translated for the chat upstream


def test_a_gateway_that_is_not_running_is_named(tmp_path: Path, upstream: Any) -> None:
    _tool(tmp_path / "bin", "claude", CLAUDE)
    path = _config(tmp_path, upstream, free_port())
    result = _run(tmp_path, "cli-agent", "claude", str(path))
    assert result.returncode == 1
    assert "does not answer" in result.stderr and f"plano up {path}" in result.stderr


def test_a_missing_tool_says_how_to_install_it(tmp_path: Path, upstream: Any) -> None:
    if any((Path(d) / "codex").exists() for d in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("a real codex is installed on this machine")
    port = free_port()
    path = _config(tmp_path, upstream, port)
    (tmp_path / "bin").mkdir()
    with gateway_in_thread(load_config(path, env={})):
        result = _run(tmp_path, "cli-agent", "codex", str(path))
    assert result.returncode == 1 and "npm install -g @openai/codex" in result.stderr
