"""Placeholders: stable per value within a request, never a placeholder the client wrote, and
restored exactly; masks."""

from __future__ import annotations

import pytest

from plano.filters.pii.mask import mask
from plano.filters.pii.restore import StreamRestorer
from plano.filters.pii.session import Session, restore_text


def test_same_value_same_placeholder_numbered_per_type() -> None:
    s = Session()
    assert s.placeholder("email", "a@b.io") == "<EMAIL_1>"
    assert s.placeholder("phone", "+33 6 12 34 56 78") == "<PHONE_1>"
    assert s.placeholder("email", "c@d.io") == "<EMAIL_2>"
    assert s.placeholder("email", "a@b.io") == "<EMAIL_1>"
    assert s.originals == {
        "<EMAIL_1>": "a@b.io",
        "<PHONE_1>": "+33 6 12 34 56 78",
        "<EMAIL_2>": "c@d.io",
    }


def test_reserved_placeholders_are_skipped() -> None:
    s = Session()
    s.reserved.update({"<EMAIL_1>", "<EMAIL_2>"})
    assert s.placeholder("email", "a@b.io") == "<EMAIL_3>"


def test_restore_text_only_known_placeholders() -> None:
    originals = {"<EMAIL_1>": "a@b.io", "<NAME_1>": 'Bob "B" \\'}
    text = "to <EMAIL_1>, not <EMAIL_9> nor <email_1>; <NAME_1>"
    assert restore_text(text, originals) == 'to a@b.io, not <EMAIL_9> nor <email_1>; Bob "B" \\'
    # inside JSON source (tool-call arguments) the value is escaped
    assert (
        restore_text('{"to": "<NAME_1>"}', originals, escaped=True) == '{"to": "Bob \\"B\\" \\\\"}'
    )


def test_stream_holds_back_only_a_possible_placeholder_start() -> None:
    s = Session()
    s.placeholder("email", "a@b.io")
    r = StreamRestorer(s)
    assert r.feed(0, "write to <EM") == "write to "
    assert r.feed(0, "AIL_1> please <") == "a@b.io please "
    assert r.feed(0, "b>old</b> x <X") == "<b>old</b> x <X"  # `<X` begins no placeholder
    assert r.feed(0, "3 < 4 and <EMAIL_") == "3 < 4 and "
    assert r.flush(0) == "<EMAIL_"
    assert r.flush(0) == ""


def test_stream_keys_are_independent() -> None:
    s = Session()
    s.placeholder("phone", "+1 415 555 2671")
    r = StreamRestorer(s)
    assert r.feed("a", "<PHO") == ""
    assert r.feed("b", "NE_1>") == "NE_1>"
    assert r.feed("a", "NE_1>!") == "+1 415 555 2671!"


@pytest.mark.parametrize(
    ("entity", "value", "masked"),
    [
        ("email", "john.doe@example.com", "j***@example.com"),
        ("card", "4111 1111 1111 1234", "****1234"),
        ("phone", "+33 6 12 34 56 78", "****5678"),
        ("iban", "DE89 3704 0044 0532 0130 00", "DE****3000"),
        ("ip", "192.168.1.10", "192.*.*.*"),
        ("ip", "2001:db8::1", "2001:****"),
        ("secret", "sk-proj-abcdefghijklmnopqrstuvwx", "sk-p****"),
        ("secret", "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----", "****"),
        ("name", "Alice Martin", "A*** M***"),
    ],
)
def test_masks(entity: str, value: str, masked: str) -> None:
    assert mask(entity, value) == masked
