"""Each detector on values it must find and look-alikes it must leave (dates, versions, ids)."""

from __future__ import annotations

import pytest

from plano.filters.pii.checks import iban_ok, luhn_ok
from plano.filters.pii.detect import Detector

ALL = ("secret", "email", "iban", "card", "ip", "phone", "name")
DETECTOR = Detector(ALL, ("Alice Martin", "Bob", "José-Luis Ortega"))


def found(text: str, detector: Detector = DETECTOR) -> list[tuple[str, str]]:
    return [(text[s:e], entity) for s, e, entity in detector.find(text)]


@pytest.mark.parametrize(
    ("value", "entity"),
    [
        ("john.doe@example.com", "email"),
        ("a.b+tag@mail.co.uk", "email"),
        ("X_Y%z@sub-domain.example.org", "email"),
        ("+33 6 12 34 56 78", "phone"),
        ("+1 (415) 555-2671", "phone"),
        ("+14155552671", "phone"),
        ("+44 20 7946 0958", "phone"),
        ("+49-30-1234567", "phone"),
        ("(415) 555-2671", "phone"),
        ("415-555-2671", "phone"),
        ("415.555.2671", "phone"),
        ("415 555 2671", "phone"),
        ("06 12 34 56 78", "phone"),
        ("01.23.45.67.89", "phone"),
        ("020 7946 0958", "phone"),
        ("4111 1111 1111 1111", "card"),
        ("4111-1111-1111-1111", "card"),
        ("4111111111111111", "card"),
        ("5500 0000 0000 0004", "card"),
        ("3782 822463 10005", "card"),
        ("6011000990139424", "card"),
        ("DE89 3704 0044 0532 0130 00", "iban"),
        ("DE89370400440532013000", "iban"),
        ("GB82WEST12345698765432", "iban"),
        ("FR14 2004 1010 0505 0001 3M02 606", "iban"),
        ("NO9386011117947", "iban"),
        ("192.168.1.10", "ip"),
        ("8.8.8.8", "ip"),
        ("2001:db8::1", "ip"),
        ("fe80::1ff:fe23:4567:890a", "ip"),
        ("::ffff:192.0.2.1", "ip"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "ip"),
        ("sk-proj-abcdefghijklmnopqrstuvwx", "secret"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345", "secret"),
        ("AKIAIOSFODNN7EXAMPLE", "secret"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "secret"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "secret"),
        ("xoxb-1234567890-abcdefghij", "secret"),
        ("xoxp-1234567890-abcdefghij", "secret"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
            "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "secret",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc==\n"
            "-----END RSA PRIVATE KEY-----",
            "secret",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "secret"),
        ("Alice Martin", "name"),
        ("alice  MARTIN", "name"),
        ("bob", "name"),
        ("José-Luis Ortega", "name"),
    ],
)
def test_finds_the_value_in_a_sentence(value: str, entity: str) -> None:
    assert found(f"Here: {value}. Thanks") == [(value, entity)]
    assert found(value) == [(value, entity)]


def test_bearer_token_is_the_token_only() -> None:
    text = "Authorization: Bearer abcdefghijklmnop1234567890"
    assert found(text) == [("abcdefghijklmnop1234567890", "secret")]


@pytest.mark.parametrize(
    "text",
    [
        "released on 2024-01-15 and 15/01/2024, or 2024.01.15",
        "meeting on 01-02-2024 at 12:30:45",
        "upgrade to version 1.2.3 or 10.0.19041.1 (build 22631.2861)",
        "order ORD-555-123-4567 and ticket #123456789",
        "invoice 2024-0001-5567 total 1234.56 EUR",
        "the number 4111 1111 1111 1112 fails Luhn",
        "a Luhn-valid id 0000000000000 is no card",
        "IBAN-like DE89 3704 0044 0532 0130 01 has a bad checksum",
        "XX89 3704 0044 0532 0130 00 is no country",
        "std::vector<int> and a::b and 00:1A:2B:3C:4D:5E",
        "ratio 3:2:1 and time 10:20:30",
        "999.1.1.1 is not an address, 1.2.3 neither",
        "task-abcdefghijklmnopqrstuvwxyz and risk-free",
        "Bobby and Bobsled and Alice Martinez are other people",
        "an email-like user@localhost or @handle",
        "phone 12345 or 555-1234 is too short",
        "Bearer short",
        "the year 2024 had 365 days and 8760 hours",
    ],
)
def test_leaves_look_alikes(text: str) -> None:
    assert found(text) == []


def test_overlaps_keep_the_higher_priority_entity() -> None:
    # a name inside an email stays part of the email; a card never also counts as a phone
    assert found("write to bob@example.com") == [("bob@example.com", "email")]
    assert found("pay 4111 1111 1111 1111 now") == [("4111 1111 1111 1111", "card")]


def test_only_configured_entities() -> None:
    emails = Detector(("email",))
    assert found("a@b.io +33 6 12 34 56 78 bob", emails) == [("a@b.io", "email")]
    assert Detector(("name",)).find("Bob") == []  # no names listed: nothing to find


def test_several_in_order() -> None:
    text = "Alice Martin (alice@example.com, +33 6 12 34 56 78) from 10.0.0.1"
    assert found(text) == [
        ("Alice Martin", "name"),
        ("alice@example.com", "email"),
        ("+33 6 12 34 56 78", "phone"),
        ("10.0.0.1", "ip"),
    ]


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("378282246310005", True),
        ("79927398713", True),
        ("79927398710", False),
    ],
)
def test_luhn(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("iban", "ok"),
    [
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765432", True),
        ("GB82WEST12345698765433", False),
        ("DE8937040044053201300", False),  # one short of Germany's 22
        ("ZZ89370400440532013000", False),  # unknown country
        ("DEAB370400440532013000", False),  # check digits must be digits
        ("NO9386011117947", True),
    ],
)
def test_iban(iban: str, ok: bool) -> None:
    assert iban_ok(iban) is ok


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("4111 1111 1111 1111 5500 0000 0000 0004", ["4111 1111 1111 1111", "5500 0000 0000 0004"]),
        ("+33 6 12 34 56 78 4111 1111 1111 1111", ["+33 6 12 34 56 78", "4111 1111 1111 1111"]),
        ("+33 6 12 34 56 78, +1 415 555 2671", ["+33 6 12 34 56 78", "+1 415 555 2671"]),
        (
            "DE89 3704 0044 0532 0130 00 GB82 WEST 1234 5698 7654 32",
            ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"],
        ),
    ],
)
def test_values_side_by_side_are_each_found(text: str, values: list[str]) -> None:
    assert [v for v, _ in found(text)] == values
