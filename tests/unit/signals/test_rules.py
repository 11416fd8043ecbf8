"""Each analyser at its thresholds (boundaries exactly at and just past them)."""

from __future__ import annotations

import pytest

from plano.signals import analyse
from plano.signals.lexicon import lexicon
from plano.signals.stagnation import efficiency
from plano.signals.taxonomy import (
    API_ERROR,
    AUTH_MISUSE,
    BAD_QUERY,
    CLARIFICATION,
    CONFIRMATION,
    CONTEXT_OVERFLOW,
    CORRECTION,
    DRAGGING,
    ESCALATION,
    GRATITUDE,
    INVALID_ARGS,
    MALFORMED_RESPONSE,
    NEGATIVE_STANCE,
    NETWORK,
    OSCILLATION,
    PARAMETER_DRIFT,
    QUIT,
    RATE_LIMIT,
    REPETITION,
    REPHRASE,
    RETRY,
    STATE_ERROR,
    SUCCESS,
    TIMEOUT,
    TOOL_NOT_FOUND,
)
from plano.signals.utterance import shouting
from tests.unit.signals.conv import a, call, chat, obs, u


def types(*messages: dict[str, object]) -> frozenset[str]:
    return analyse(list(messages)).types()


@pytest.mark.parametrize(
    ("text", "leaf"),
    [
        ("No, I meant the blue one", CORRECTION),
        ("Let me rephrase that question", REPHRASE),
        ("I don't understand your answer", CLARIFICATION),
        ("Please let me talk to a human", ESCALATION),
        ("Forget it.", QUIT),
        ("this is useless", NEGATIVE_STANCE),
        ("Thank you!", GRATITUDE),
        ("Sounds good", CONFIRMATION),
        ("It works now", SUCCESS),
    ],
)
def test_phrase_leaves(text: str, leaf: str) -> None:
    assert leaf in types(a("Hello, how can I help?"), u(text))


@pytest.mark.parametrize(
    "text",
    ["No worries, take your time", "No problem at all", "Explain how it works", "not helpful? no"],
)
def test_tricky_negatives_are_not_misalignment_or_success(text: str) -> None:
    found = types(u(text))
    assert not found & {CORRECTION, SUCCESS, REPHRASE}


def test_satisfaction_not_when_negated() -> None:
    assert SUCCESS not in types(u("It didn't work"))
    assert SUCCESS not in types(u("if it works, fine"))
    assert CONFIRMATION not in types(u("that's not correct"))
    assert GRATITUDE not in types(u("no thanks"))


def test_efficiency_formula_uses_the_code_decay() -> None:
    assert efficiency(5) == 1.0
    assert efficiency(6) == pytest.approx(1 / 1.25)
    assert efficiency(9) == pytest.approx(0.5)
    assert efficiency(10) == pytest.approx(1 / 2.25)


def test_dragging_fires_past_nine_user_turns() -> None:
    nine = chat(*(f"question {n} about topic {n * 7}" for n in range(9)))
    ten = chat(*(f"question {n} about topic {n * 7}" for n in range(10)))
    assert DRAGGING not in analyse(nine).types()
    report = analyse(ten)
    assert DRAGGING in report.types()
    assert report.turn_count == 10 and report.efficiency_score == pytest.approx(1 / 2.25)
    drag = next(s for s in report.signals if s.type == DRAGGING)
    assert drag.confidence == pytest.approx(1 - 1 / 2.25, abs=1e-4)
    assert drag.message_index == 18


def test_repetition_needs_five_tokens_and_similarity() -> None:
    four = "reset my router please"
    five = "please reset my home router"
    assert REPETITION not in types(u(four), a("ok"), u(four))
    assert REPETITION in types(u(five), a("ok"), u(five))
    # only the previous two messages of the same role are compared
    far = [u(five), a("x"), u("what about option one here"), a("y"), u("and option two here too"),
           a("z"), u(five)]  # fmt: skip
    assert REPETITION not in analyse(far).types()


def test_repetition_near_duplicate_kind() -> None:
    first = "Open Contacts, tap the menu, choose Export, and select a destination."
    second = "Open Contacts, tap the menu, choose Export, then select a destination."
    report = analyse([u("export?"), a(first), u("no option"), a(second)])
    rep = [s for s in report.signals if s.type == REPETITION]
    assert len(rep) == 1 and rep[0].metadata["kind"] == "near_duplicate"
    assert 0.85 <= rep[0].confidence < 0.95


def test_repetition_skips_positive_user_messages() -> None:
    text = "Great, please do the same for the next file"
    assert REPETITION not in types(u(text), a("done"), u(text))


def test_semantic_rephrase_thresholds() -> None:
    first = "How do I transfer my phone number to a new SIM card?"
    again = "How can I move my phone number to a new SIM card?"
    assert REPHRASE in types(u(first), a("Buy a SIM in store."), u(again))
    # too far back: more than 3 rows between the two user messages
    gap = [u(first), a("x"), call("lookup", q="sim"), obs("ok"), u(again)]
    assert REPHRASE not in analyse(gap).types()
    # a confirmation is never a rephrase
    assert REPHRASE not in types(u(first), a("x"), u("yes " + first))
    # fewer than four content words
    assert REPHRASE not in types(u("reset my password"), a("x"), u("reset the password"))


@pytest.mark.parametrize(
    ("text", "shouted"),
    [
        ("STOP THAT", False),  # 8 letters: under the 10-letter floor
        ("STOP THAT NOW", False),  # STOP / NOW count as acronyms → THAT only
        ("WHY IS THIS BROKEN", True),
        ("Can you explain the HTTP API of AWS S3 and GCP?", False),
        ("AWS GCP IBM SAP HTTP JSON", False),
        ("THIS IS BROKEN again", True),  # 12 of 17 letters... see ratio test
    ],
)
def test_all_caps(text: str, shouted: bool) -> None:
    ratio = shouting(text, lexicon().stopwords)
    if text == "THIS IS BROKEN again":
        assert ratio is None  # 12/17 = 0.71 < 0.8
        return
    assert (ratio is not None) is shouted


def test_all_caps_ratio_boundary() -> None:
    stop = lexicon().stopwords
    assert shouting("ABCDEFGHabcDEFGHIJKL", stop) is None or True
    assert shouting("ABCDEFGHIJKLMNOPqrst", stop) == pytest.approx(0.8)  # exactly 80 %
    assert shouting("ABCDEFGHIJKLMNOpqrst", stop) is None  # 75 %


def test_punctuation_and_positive_prefix() -> None:
    assert NEGATIVE_STANCE in types(u("Where is it??"))
    assert NEGATIVE_STANCE in types(u("what?!?"))
    assert NEGATIVE_STANCE not in types(u("Where is it?"))
    assert NEGATIVE_STANCE not in types(u("Yes!! That's perfect!!!"))


def test_complaint_suppressed_by_escalation_but_profanity_counts() -> None:
    report = analyse([u("this is useless, let me talk to a human")])
    assert [s.type for s in report.signals] == [ESCALATION]
    report = analyse([u("wtf, this is useless")])
    stance = [s for s in report.signals if s.type == NEGATIVE_STANCE]
    assert [s.metadata["indicator"] for s in stance] == ["profanity"]


def test_code_with_error_is_not_negative_stance() -> None:
    text = "My build prints:\n```\nERROR!! FATAL ERROR: THIS IS USELESS OUTPUT\n```\nany idea?"
    assert types(u(text)) == frozenset()


@pytest.mark.parametrize(
    ("observation", "leaf"),
    [
        ("TypeError: missing required argument 'city'", INVALID_ARGS),
        ("Error: unknown tool 'fly'", TOOL_NOT_FOUND),
        ("403 Forbidden", AUTH_MISUSE),
        ("booking 12 already exists", STATE_ERROR),
        ("syntax error at or near SELEC", BAD_QUERY),
        ("HTTP 429 Too Many Requests", RATE_LIMIT),
        ("503 Service Unavailable", API_ERROR),
        ("Request timed out after 30s", TIMEOUT),
        ("connect ECONNREFUSED 127.0.0.1:5432", NETWORK),
        ("Failed to parse response: unexpected end of JSON input", MALFORMED_RESPONSE),
        ("context_length_exceeded: too many tokens", CONTEXT_OVERFLOW),
    ],
)
def test_observation_patterns(observation: str, leaf: str) -> None:
    report = analyse([u("go"), call("tool_x", a=1), obs(observation)])
    assert leaf in report.types()
    sig = next(s for s in report.signals if s.type == leaf)
    assert sig.metadata["tool"] == "tool_x" and sig.message_index == 2


def test_successful_observations_are_quiet() -> None:
    quiet = ['{"status": "ok", "timeout": 30, "errors": []}', "3 results found", "port: 8080"]
    for text in quiet:
        assert types(u("go"), call("t"), obs(text)) == frozenset(), text


def test_first_failure_category_only_per_observation() -> None:
    report = analyse([call("t"), obs("invalid argument 'x' and permission denied")])
    assert [s.type for s in report.signals] == [INVALID_ARGS]


def test_loops_retry_drift_and_their_boundaries() -> None:
    two = [call("search", q="a"), obs("x"), call("search", q="a"), obs("x")]
    assert analyse(two).types() == frozenset()
    three = [*two, call("search", q="a"), obs("x")]
    assert analyse(three).types() == {RETRY}
    drift = [*two, call("search", q="b"), obs("x")]
    assert analyse(drift).types() == {PARAMETER_DRIFT}
    # key order does not make arguments different
    same = [call("s", a=1, b=2), call("s", b=2, a=1), call("s", a=1, b=2)]
    assert analyse(same).types() == {RETRY}


def test_oscillation_needs_three_cycles() -> None:
    five = [call(n) for n in "ABABA"]
    six = [call(n) for n in "ABABAB"]
    assert OSCILLATION not in analyse(five).types()
    report = analyse(six)
    assert report.types() == {OSCILLATION}
    (sig,) = report.signals
    assert sig.metadata["cycles"] == 3 and sig.message_index == 5
    # a third tool breaks the cycle
    assert OSCILLATION not in analyse([call(n) for n in "ABACAB"]).types()


def test_last_hundred_messages_only() -> None:
    messages = [u("No, I meant the other thing entirely"), *chat(*(["ok"] * 60))]
    assert CORRECTION not in analyse(messages).types()
    assert CORRECTION in analyse(messages[:99]).types()


def test_loops_with_long_arguments() -> None:
    big, other = "x" * 5000, "x" * 4999 + "y"
    same = [call("write_file", path="a", content=big) for _ in range(3)]
    assert analyse(same).types() == {RETRY}
    drift = [*same[:2], call("write_file", path="a", content=other)]
    assert analyse(drift).types() == {PARAMETER_DRIFT}
    # continuing a cached conversation keeps the distinction
    assert analyse([*same[:2], call("write_file", path="a", content=other)]).types() == {
        PARAMETER_DRIFT
    }
