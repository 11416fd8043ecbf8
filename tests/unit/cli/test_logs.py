"""`plano logs`: requests and gateway warnings by default, every line with --debug."""

from __future__ import annotations

from plano.cli.logs import LineFilter, selected

LOG = [
    "2026-12-04 17:00:00,001 INFO plano.routing: route vectors ready\n",
    '[2026-12-04T17:00:01.000Z] "POST /v1/chat/completions" 200 model_listener ...\n',
    "2026-12-04 17:00:02,002 ERROR plano.upstream: exchange failed\n",
    "Traceback (most recent call last):\n",
    '  File "x.py", line 1, in <module>\n',
    "2026-12-04 17:00:03,003 DEBUG plano.routing: scores ...\n",
    "  continuation of a debug record\n",
    '{"ts": "2026-12-04T17:00:04Z", "status": 200}\n',
    "2026-12-04 17:00:05,005 INFO plano: plano ready (pid 7, 2 workers)\n",
]


def test_default_keeps_requests_and_warnings_with_their_tracebacks() -> None:
    out = list(selected(LOG, LineFilter(debug=False)))
    assert out == [LOG[1], LOG[2], LOG[3], LOG[4], LOG[7], LOG[8]]


def test_debug_keeps_everything() -> None:
    assert list(selected(LOG, LineFilter(debug=True))) == LOG
