"""`plano init`: every template it writes validates and starts, the offline one serves a request
through the official SDK, and the wizard's answers make a config that starts too."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import openai
import pytest
from click.testing import CliRunner

from plano.cli.init import env_names, templates
from plano.cli.main import cli
from plano.config import Config, load_config
from plano.mock.testing import run_mock_in_thread
from plano.runtime.serve import gateway_in_thread

pytestmark = pytest.mark.integration

TEMPLATES = sorted(templates())


def _on_free_ports(config: Config) -> Config:
    listeners = tuple(
        lc.model_copy(update={"port": 0, "address": "127.0.0.1"}) for lc in config.listeners
    )
    return config.model_copy(update={"listeners": listeners})


def _write(tmp_path: Path, *args: str, input: str | None = None) -> Path:
    out = tmp_path / "config.yaml"
    result = CliRunner().invoke(cli, ["init", *args, "-o", str(out)], input=input)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    return out


def _healthy(path: Path) -> None:
    text = path.read_text()
    config = _on_free_ports(load_config(path, env={v: f"dummy-{v}" for v in env_names(text)}))
    with gateway_in_thread(config) as gw:
        for b in gw.bound:
            with urllib.request.urlopen(f"http://127.0.0.1:{b.port}/healthz", timeout=5) as r:
                assert r.status == 200, b.listener.name


def test_the_original_templates_are_all_there() -> None:
    assert {
        "sub_agent_orchestration",
        "coding_agent_routing",
        "preference_aware_routing",
        "filter_chain_guardrails",
        "conversational_state_v1_responses",
        "offline",
    } <= set(TEMPLATES)


@pytest.mark.parametrize("tid", TEMPLATES)
def test_each_template_validates_and_starts(tmp_path: Path, tid: str) -> None:
    _healthy(_write(tmp_path, "--template", tid))


def test_clean_config_starts(tmp_path: Path) -> None:
    _healthy(_write(tmp_path, "--clean"))


def test_offline_template_serves_through_mock_llm(tmp_path: Path) -> None:
    path = _write(tmp_path, "--template", "offline")
    with run_mock_in_thread() as upstream:
        path.write_text(path.read_text().replace("http://127.0.0.1:8080", upstream.base_url))
        config = _on_free_ports(load_config(path, env={}))
        with gateway_in_thread(config) as gw:
            client = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="unused")
            ask = "Write a Python function that reverses a string"
            reply = client.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": ask}]
            )
            chat = client.chat.completions.create(
                model="fast",
                messages=[{"role": "user", "content": "what's a good name for a cat?"}],
            )
    assert reply.model == "gpt-4o"  # the template's code-generation route
    assert ask[:30] in (reply.choices[0].message.content or "")
    assert chat.model == "gpt-4o-mini"  # no route fits: the alias the client named


def test_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    out = tmp_path / "config.yaml"
    out.write_text("mine")
    result = CliRunner().invoke(cli, ["init", "--clean", "-o", str(out)])
    assert result.exit_code != 0 and "--force" in result.output
    assert out.read_text() == "mine"
    result = CliRunner().invoke(cli, ["init", "--clean", "-o", str(out), "--force"])
    assert result.exit_code == 0 and out.read_text() != "mine"


def test_unknown_template_lists_the_known_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", "-t", "nope", "-o", str(tmp_path / "c.yaml")])
    assert result.exit_code == 2
    assert "offline" in result.output and not (tmp_path / "c.yaml").exists()


def test_not_a_terminal_without_a_choice_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", "-o", str(tmp_path / "c.yaml")])
    assert result.exit_code == 2 and "--template" in result.output


def test_wizard_answers_make_a_config_that_starts(tmp_path: Path) -> None:
    answers = "\n".join(
        [
            "openai",  # provider
            "gpt-4o-mini",  # model
            "OPENAI_API_KEY",  # key variable
            "y",  # another model
            "anthropic",
            "claude-sonnet-4-5",
            "ANTHROPIC_API_KEY",
            "n",  # no more models
            "y",  # routing
            "embedded",
            "code generation",  # route for the second model
            "y",  # an agent
            "docs_agent",
            "http://127.0.0.1:10510",
            "answers questions from our documents",
            "n",  # no more agents
            "12000",
        ]
    )
    path = _write(tmp_path, "--interactive", input=answers + "\n")
    text = path.read_text()
    assert env_names(text) == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
    config = load_config(path, env={"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b"})
    assert [p.name for p in config.routing_preferences] == ["code generation"]
    assert [a.id for a in config.agents] == ["docs_agent"]
    _healthy(path)
