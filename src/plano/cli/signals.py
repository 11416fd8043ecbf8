"""`plano signals FILE`: score exported conversations (JSONL) offline, without a gateway."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the analysers load when the command runs, not for --help
    from plano.signals import SignalReport
    from plano.signals.replay import ReplayConversation

FLAG = "\U0001f6a9"


class _Summary:
    def __init__(self) -> None:
        self.conversations = 0
        self.flagged = 0
        self.quality: Counter[str] = Counter()
        self.signals: Counter[str] = Counter()
        self.with_category: Counter[str] = Counter()

    def add(self, report: SignalReport) -> None:
        self.conversations += 1
        self.flagged += report.flagged
        self.quality[report.quality] += 1
        for result in report.categories:
            if result.count:
                name = f"{result.layer}.{result.category}"
                self.signals[name] += result.count
                self.with_category[name] += 1

    def render(self) -> str:
        from plano.signals import CATEGORIES
        from plano.signals.report import QUALITY_BUCKETS

        lines = [f"{self.conversations} conversations, {self.flagged} flagged {FLAG}", ""]
        lines.append(f"{'category':<28} {'signals':>8} {'conversations':>14}")
        for layer, category in CATEGORIES:
            name = f"{layer}.{category}"
            lines.append(f"{name:<28} {self.signals[name]:>8} {self.with_category[name]:>14}")
        lines.append("")
        dist = ", ".join(f"{q} {self.quality[q]}" for q in QUALITY_BUCKETS)
        lines.append(f"quality: {dist}")
        return "\n".join(lines)


def render_report(conv_id: Any, report: SignalReport) -> str:
    flag = f" {FLAG}" if report.flagged else ""
    head = (
        f"{conv_id}: quality {report.quality} (score {report.quality_score:.1f}), "
        f"{report.turn_count} user turn{'' if report.turn_count == 1 else 's'}, "
        f"efficiency {report.efficiency_score:.2f}{flag}"
    )
    lines = [head]
    for s in report.signals:
        lines.append(f"  [{s.message_index}] {s.type} ({s.confidence:.2f}) {s.snippet!r}")
    return "\n".join(lines)


def _conversations(stream: IO[str], name: str, bad: list[str]) -> Iterator[ReplayConversation]:
    from plano.signals.replay import ReplayLineError, decode_line

    for lineno, line in enumerate(stream, start=1):
        try:
            conv = decode_line(line, lineno)
        except ReplayLineError as err:
            bad.append(f"{name}:{lineno}: {err}")
            continue
        if conv is not None:
            yield conv


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8", errors="replace"))
@click.option("--json", "as_json", is_flag=True, help='One {"id", "report"} object per line.')
@click.option("--only-flagged", is_flag=True, help="Report only flagged conversations.")
def signals(file: IO[str], as_json: bool, only_flagged: bool) -> None:
    """Score the conversations of a JSONL FILE ('-' for stdin) with the agentic signals.

    Each line: {"id", "messages": [{"from", "value"}]} (replay format), {"messages": [OpenAI
    messages]}, or a bare array of OpenAI messages. Exits 1 if a line is not a conversation.
    """
    from plano.signals import analyse

    name = str(getattr(file, "name", "<stdin>"))
    bad: list[str] = []
    summary = _Summary()
    for conv in _conversations(file, name, bad):
        report = analyse(conv.messages, shape=conv.shape)
        summary.add(report)
        if only_flagged and not report.flagged:
            continue
        if as_json:
            click.echo(json.dumps({"id": conv.id, "report": report.to_json()}, ensure_ascii=False))
        else:
            click.echo(render_report(conv.id, report) + "\n")
    if not as_json:
        click.echo(summary.render())
    for problem in bad:
        click.echo(problem, err=True)
    if bad:
        sys.exit(1)
