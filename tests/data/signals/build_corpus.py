"""Build corpus.jsonl / corpus_holdout.jsonl from the hand-written corpus.txt / holdout.txt.

    PYTHONPATH=src python tests/data/signals/build_corpus.py

Each output line: {"id", "shape", "messages", "expected": [leaf types], "quality"}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from plano.signals import LEAF_TYPES

HERE = Path(__file__).parent
SOURCES = {"corpus.txt": "corpus.jsonl", "holdout.txt": "corpus_holdout.jsonl"}
LEAVES = {leaf.rsplit(".", 1)[1]: leaf for leaf in LEAF_TYPES}


def _openai(lines: list[tuple[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    calls = 0
    for kind, text in lines:
        if kind == "U":
            out.append({"role": "user", "content": text})
        elif kind == "A":
            out.append({"role": "assistant", "content": text})
        elif kind == "C":
            name, _, args = text.partition(" ")
            calls += 1
            call = {"id": f"call_{calls}", "type": "function",
                    "function": {"name": name, "arguments": args or "{}"}}  # fmt: skip
            if out and out[-1]["role"] == "assistant" and not out[-1].get("tool_calls"):
                out[-1]["tool_calls"] = [call]
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "O":
            out.append({"role": "tool", "tool_call_id": f"call_{calls}", "content": text})
    return out


def _sharegpt(lines: list[tuple[str, str]]) -> list[dict[str, Any]]:
    names = {"U": "human", "A": "gpt", "C": "function_call", "O": "observation"}
    out: list[dict[str, Any]] = []
    for kind, text in lines:
        value = text
        if kind == "C":
            name, _, args = text.partition(" ")
            value = json.dumps({"name": name, "arguments": json.loads(args or "{}")})
        out.append({"from": names[kind], "value": value})
    return out


def parse(text: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for block in text.split("\n=== ")[1:]:
        header, *body = block.strip("\n").split("\n")
        fields = [f.strip() for f in header.split("|")]
        conv_id, expected, quality = fields[:3]
        shape = fields[3] if len(fields) > 3 else "openai"
        kept = [ln for ln in body if ln[:3] in ("U: ", "A: ", "C: ", "O: ")]
        lines = [(ln[0], ln[3:].replace("\\n", "\n")) for ln in kept]
        leaves = [] if expected == "-" else [LEAVES[e.strip()] for e in expected.split(",")]
        messages = _sharegpt(lines) if shape == "sharegpt" else _openai(lines)
        records.append({"id": conv_id, "shape": shape, "messages": messages,
                        "expected": sorted(set(leaves)), "quality": quality})  # fmt: skip
    return records


def main() -> int:
    for source, target in SOURCES.items():
        path = HERE / source
        if not path.exists():
            continue
        records = parse(path.read_text(encoding="utf-8"))
        ids = [r["id"] for r in records]
        if len(ids) != len(set(ids)):
            print(f"{source}: duplicate ids", file=sys.stderr)
            return 1
        with (HERE / target).open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"{target}: {len(records)} conversations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
