"""The questions `plano init` asks in a terminal, and the config its answers make.

Which providers (with a model each and the environment variable holding its key), whether to
route by intent (a route description per extra model, decided by the embedded CPU router or an
orchestrator model you serve), and whether to front agents with an agent listener.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import click
import yaml

# provider prefix -> (a model to suggest, the usual key variable)
PROVIDERS: Final = {
    "openai": ("gpt-4o-mini", "OPENAI_API_KEY"),
    "anthropic": ("claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
    "gemini": ("gemini-2.5-flash", "GEMINI_API_KEY"),
    "mistral": ("mistral-large-latest", "MISTRAL_API_KEY"),
    "groq": ("llama-3.3-70b-versatile", "GROQ_API_KEY"),
    "deepseek": ("deepseek-chat", "DEEPSEEK_API_KEY"),
    "xai": ("grok-4", "XAI_API_KEY"),
}


@dataclass(slots=True)
class Model:
    provider: str
    model: str
    key_env: str
    route: str | None = None  # a route description when routing picks this model


@dataclass(slots=True)
class Agent:
    id: str
    url: str
    description: str


@dataclass(slots=True)
class Answers:
    models: list[Model] = field(default_factory=list)
    router: str | None = None  # embedded | orchestrator; None: no routing
    agents: list[Agent] = field(default_factory=list)
    port: int = 12000


def ask() -> Answers:
    """Ask in the terminal (click prompts)."""
    answers = Answers()
    choice = click.Choice(sorted(PROVIDERS))
    first = True
    while first or click.confirm("Add another model?", default=False):
        provider = click.prompt(
            "Provider" if first else "Provider of the next model",
            type=choice,
            default="openai" if first else "anthropic",
        )
        suggested, key = PROVIDERS[provider]
        model = click.prompt("Model", default=suggested)
        key_env = click.prompt("Environment variable holding its API key", default=key)
        answers.models.append(Model(provider, model, key_env))
        first = False
    if len(answers.models) > 1 and click.confirm(
        "Route each prompt to the model that fits it (routing by intent)?", default=True
    ):
        answers.router = click.prompt(
            "Router", type=click.Choice(["embedded", "orchestrator"]), default="embedded"
        )
        for m in answers.models[1:]:
            m.route = click.prompt(f"What should go to {m.provider}/{m.model}? (a short phrase)")
    while click.confirm(
        "Add an agent (an HTTP service behind an agent listener)?"
        if not answers.agents
        else "Add another agent?",
        default=False,
    ):
        aid = click.prompt("Agent id", default=f"agent_{len(answers.agents) + 1}")
        url = click.prompt("Its URL", default="http://127.0.0.1:10510")
        description = click.prompt("What it does (used to pick it)")
        answers.agents.append(Agent(aid, url, description))
    answers.port = click.prompt("Model listener port", type=click.IntRange(1, 65535), default=12000)
    return answers


def render(answers: Answers) -> str:
    """The config of `answers`, as YAML text."""
    doc: dict[str, object] = {"version": "v0.4.0"}
    if answers.agents:
        doc["agents"] = [{"id": a.id, "url": a.url} for a in answers.agents]
    doc["model_providers"] = [
        {"model": f"{m.provider}/{m.model}", "access_key": f"${m.key_env}"}
        | ({"default": True} if i == 0 else {})
        for i, m in enumerate(answers.models)
    ]
    if answers.router is not None:
        doc["routing"] = {"router": {"type": answers.router}}
        doc["routing_preferences"] = [
            {"name": m.route, "description": m.route, "models": [f"{m.provider}/{m.model}"]}
            for m in answers.models
            if m.route
        ]
    listeners: list[dict[str, object]] = []
    if answers.agents:
        listeners.append(
            {
                "type": "agent",
                "name": "agent_listener",
                "port": 8001,
                "router": "plano_orchestrator_v1",
                "agents": [{"id": a.id, "description": a.description} for a in answers.agents],
            }
        )
    listeners.append({"type": "model", "name": "model_listener", "port": answers.port})
    doc["listeners"] = listeners
    text: str = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return "# written by plano init\n" + text
