"""`plano signals FILE`: the line decoder (fuzzed) and the command (click's runner)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.cli.main import cli
from plano.signals.replay import ReplayLineError, decode_line

SHAREGPT = {"id": "r1", "messages": [
    {"from": "human", "value": "Book a cab at 6am"}, {"from": "gpt", "value": "Booked for 6pm."},
    {"from": "human", "value": "No, I meant 6am. Let me talk to a human."}]}  # fmt: skip
OPENAI = {"messages": [{"role": "user", "content": "thanks, that worked!"}]}
BARE = [{"role": "user", "content": "What is a monad?"}]


def test_decode_shapes() -> None:
    one = decode_line(json.dumps(SHAREGPT), 1)
    assert one is not None and one.shape == "sharegpt" and one.id == "r1"
    two = decode_line(json.dumps(OPENAI), 2)
    assert two is not None and two.shape == "openai" and two.id == 2
    three = decode_line(json.dumps(BARE), 3)
    assert three is not None and three.shape == "openai" and three.id == 3
    assert decode_line("   \n", 4) is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{bad", "not valid JSON"),
        ("42", "expected an object"),
        ('{"id": "x"}', '"messages" array'),
        ('{"id": [1], "messages": []}', '"id" must be'),
        ('{"messages": [1]}', "message 0 is not an object"),
        ('[{"content": "x"}]', 'neither a "role" nor a "from"'),
        ('[{"role": "user"}, {"from": "human"}]', "mix"),
    ],
)
def test_decode_errors(line: str, reason: str) -> None:
    with pytest.raises(ReplayLineError, match=reason):
        decode_line(line, 1)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200) | st.builds(json.dumps, st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "messages", "role", "from", "value", "content"]), c, max_size=4),
    max_leaves=12)))  # fmt: skip
def test_decoder_only_raises_its_error(line: str) -> None:
    with contextlib.suppress(ReplayLineError):
        decode_line(line, 7)


def _file(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "convs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_cli_readable_report_and_summary(tmp_path: Path) -> None:
    path = _file(tmp_path, [json.dumps(SHAREGPT), json.dumps(OPENAI), json.dumps(BARE)])
    result = CliRunner().invoke(cli, ["signals", path])
    assert result.exit_code == 0, result.output
    assert "r1: quality severe (score 0.0)" in result.output and "\U0001f6a9" in result.output
    assert "interaction.misalignment.correction" in result.output
    assert "'No, I meant 6am. Let me talk to a human.'" in result.output
    assert "3 conversations, 1 flagged" in result.output
    assert "quality: excellent 0, good 1, neutral 1, poor 0, severe 1" in result.output


def test_cli_json_only_flagged_from_stdin() -> None:
    data = "\n".join(json.dumps(x) for x in (SHAREGPT, OPENAI, BARE)) + "\n"
    result = CliRunner().invoke(cli, ["signals", "--json", "--only-flagged", "-"], input=data)
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert body["id"] == "r1"
    assert body["report"]["overall_quality"] == "severe"
    assert body["report"]["interaction"]["disengagement"]["count"] == 1


def test_cli_bad_line_names_it_and_exits_1(tmp_path: Path) -> None:
    path = _file(tmp_path, [json.dumps(OPENAI), "{oops", json.dumps(BARE)])
    result = CliRunner().invoke(cli, ["signals", "--json", path])
    assert result.exit_code == 1
    assert f"{path}:2: not valid JSON" in result.output
    assert "Traceback" not in result.output
    assert sum(1 for ln in result.output.splitlines() if ln.startswith("{")) == 2
