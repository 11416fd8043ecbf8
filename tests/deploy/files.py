"""Paths and small parsers shared by the deploy tests (Dockerfile, compose.yaml, the Helm chart)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
IMAGE_CONFIG = ROOT / "deploy" / "docker" / "config.yaml"
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"
LOCK = ROOT / "deploy" / "docker" / "requirements.lock"
COMPOSE = ROOT / "compose.yaml"
COMPOSE_CONFIG = ROOT / "deploy" / "compose" / "config.yaml"
CHART = ROOT / "deploy" / "helm" / "plano"


def dockerfile_instructions(stage: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped; only the
    stage named `stage` (FROM ... AS stage) when given."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: list[tuple[str, str]] = []
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.search(r"\bAS\s+(\S+)", rest, re.IGNORECASE)
            current = m.group(1) if m else None
        if stage is None or current == stage:
            out.append((word, " ".join(rest.split())))
    return out


def dockerfile_one(word: str, stage: str = "runtime") -> str:
    found = [args for w, args in dockerfile_instructions(stage) if w == word]
    assert len(found) == 1, f"{word}: {found}"
    return found[0]


def dockerfile_env(stage: str = "runtime") -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in dockerfile_instructions(stage):
        if word == "ENV":
            env.update(dict(pair.split("=", 1) for pair in args.split()))
    return env


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), args
    return [str(v) for v in value]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
