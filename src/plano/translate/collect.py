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
        self.error: ir.StreamError | None = None
        self._blocks: dict[int, tuple[ir.BlockStart, list[str], list[str]]] = {}

    def feed(self, events: list[ir.Event]) -> None:
        for ev in events:
            if isinstance(ev, ir.TextDelta | ir.RefusalDelta):
                if ev.index in self._blocks:
                    self._blocks[ev.index][1].append(ev.text)
            elif isinstance(ev, ir.TextRun):
                if ev.index in self._blocks:
                    self._blocks[ev.index][1].extend(ev.texts)
            elif isinstance(ev, ir.ToolArgsDelta):
                if ev.index in self._blocks:
                    self._blocks[ev.index][1].append(ev.partial_json)
            elif isinstance(ev, ir.ThinkingDelta):
                if ev.index not in self._blocks:
                    continue
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
            elif isinstance(ev, ir.StreamError):
                self.error = ev

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


def events_of(response: ir.Response) -> list[ir.Event]:
    """A whole response as the stream events that would have carried it (for an upstream that
    answered a streaming request with one JSON body)."""
    out: list[ir.Event] = [ir.MessageStart(response.id, response.model, created=response.created)]
    for index, part in enumerate(response.content):
        if isinstance(part, ir.Text):
            out += [ir.BlockStart(index, "text"), ir.TextDelta(index, part.text)]
        elif isinstance(part, ir.Refusal):
            out += [ir.BlockStart(index, "refusal"), ir.RefusalDelta(index, part.text)]
        elif isinstance(part, ir.ToolCall):
            out.append(ir.BlockStart(index, "tool_call", part.id, part.name))
            out.append(ir.ToolArgsDelta(index, part.arguments))
        elif isinstance(part, ir.Thinking):
            out.append(ir.BlockStart(index, "thinking"))
            out.append(ir.ThinkingDelta(index, part.text, part.signature, part.redacted))
        else:
            continue
        out.append(ir.BlockStop(index))
    out.append(ir.MessageDelta(response.stop_reason, response.stop_sequence, response.usage))
    out.append(ir.MessageStop())
    return out
