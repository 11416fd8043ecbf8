"""Fold a stream of IR events back into one `ir.Response` (for conversation state and usage).

O(1) work per event; text deltas are kept as lists and joined once at the end.
"""

from __future__ import annotations

from plano import ir


class Collector:
    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.usage = ir.Usage()
        self.stop: ir.StopReason = ir.StopReason.END_TURN
        self.complete = False
        self._blocks: dict[int, tuple[ir.BlockStart, list[str], list[str]]] = {}

    def feed(self, events: list[ir.Event]) -> None:
        for ev in events:
            if isinstance(ev, ir.TextDelta | ir.RefusalDelta):
                self._blocks[ev.index][1].append(ev.text)
            elif isinstance(ev, ir.ToolArgsDelta):
                self._blocks[ev.index][1].append(ev.partial_json)
            elif isinstance(ev, ir.ThinkingDelta):
                _, text, sig = self._blocks[ev.index]
                text.append(ev.text)
                if ev.signature or ev.redacted:
                    sig.append(ev.signature or ev.redacted or "")
            elif isinstance(ev, ir.BlockStart):
                self._blocks[ev.index] = (ev, [], [])
            elif isinstance(ev, ir.MessageStart):
                self.id, self.model = ev.id, ev.model
                self.usage.merge(ev.usage)
            elif isinstance(ev, ir.MessageDelta):
                self.usage.merge(ev.usage)
                if ev.stop_reason is not None:
                    self.stop = ev.stop_reason
            elif isinstance(ev, ir.MessageStop):
                self.complete = True

    def response(self) -> ir.Response:
        parts: list[ir.Part] = []
        for index in sorted(self._blocks):
            start, text, sig = self._blocks[index]
            joined = "".join(text)
            if start.kind == "text":
                parts.append(ir.Text(joined))
            elif start.kind == "refusal":
                parts.append(ir.Refusal(joined))
            elif start.kind == "tool_call":
                parts.append(
                    ir.ToolCall(start.tool_call_id or "", start.tool_name or "", joined or "{}")
                )
            else:
                parts.append(ir.Thinking(joined, "".join(sig) or None))
        return ir.Response(self.id, self.model, parts, self.stop, usage=self.usage)
