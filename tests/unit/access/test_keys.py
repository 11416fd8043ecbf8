"""Key format, hashing, where a request carries its key, model globs, expiry; the key parser
fuzzed (it reads client input)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from plano.access.keys import (
    KeyHeaders,
    format_key,
    hash_secret,
    new_id,
    new_secret,
    parse_key,
    secret_matches,
)
from plano.access.keys_policy import AccessKey
from plano.state.keys import KeyRecord


def test_a_new_key_parses_back_to_its_id_and_secret() -> None:
    key_id, secret = new_id(), new_secret()
    key = format_key(key_id, secret)
    assert key.startswith(f"pk-{key_id}-")
    assert parse_key(key) == (key_id, secret)
    assert secret_matches(secret, hash_secret(secret))
    assert not secret_matches(secret + "x", hash_secret(secret))
    assert len(secret) >= 43 and new_secret() != secret


def test_things_that_are_not_keys() -> None:
    for token in ("", "pk-", "pk-0123456789ab", "pk-0123456789ab-", "pk-0123456789AB-x",
                  "pk-0123456789a-xx", "sk-0123456789ab-x", "pk-0123456789abx-y",
                  "pk-0123456789ab-" + "x" * 300):  # fmt: skip
        assert parse_key(token) is None, token


@given(st.text(max_size=300))
def test_parse_key_never_fails_and_round_trips(token: str) -> None:
    got = parse_key(token)
    if got is not None:
        assert format_key(*got) == token
        assert len(got[0]) == 12 and got[1]


@given(st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=80)), max_size=8))
def test_key_headers_find_never_fails(headers: list[tuple[bytes, bytes]]) -> None:
    found = KeyHeaders("x-plano-key").find(headers)
    if found is not None:
        i, token = found
        assert headers[i][0] in (b"authorization", b"x-api-key", b"x-plano-key")
        assert token.startswith("pk-")


def test_key_headers_take_the_gateway_key_not_a_provider_key() -> None:
    h = KeyHeaders()
    assert h.find([(b"authorization", b"Bearer pk-abc")]) == (0, "pk-abc")
    assert h.find([(b"authorization", b"bearer  pk-abc ")]) == (0, "pk-abc")
    assert h.find([(b"x-api-key", b"sk-provider"), (b"authorization", b"Bearer pk-a")]) == (
        1,
        "pk-a",
    )
    assert h.find([(b"authorization", b"Bearer sk-provider")]) is None
    assert h.find([(b"x-plano-key", b"pk-a")]) is None
    assert KeyHeaders("X-Plano-Key").find([(b"x-plano-key", b"pk-a")]) == (0, "pk-a")


def key(models: tuple[str, ...] = (), **kw: object) -> AccessKey:
    return AccessKey(KeyRecord(id="0" * 12, name="n", secret_hash="", models=models, **kw))  # type: ignore[arg-type]


def test_models_exact_glob_and_any() -> None:
    assert key().allows(["anything"])
    assert key(("*",)).allows([None])
    k = key(("openai/gpt-4o", "anthropic/*", "smart"))
    assert k.allows(["gpt-4o", "openai/gpt-4o"])
    assert k.allows([None, "anthropic/claude-3-5-haiku"])
    assert k.allows(["smart"])
    assert not k.allows(["openai/gpt-4o-mini", "gpt-4o-mini"])
    assert not k.allows([None])
    assert not key(("gpt-?",)).allows(["gpt-44"]) and key(("gpt-?",)).allows(["gpt-4"])


def test_expiry_and_revocation() -> None:
    assert key().live(100.0) is None
    assert key(expires_at=100.0).live(99.9) is None
    assert key(expires_at=100.0).live(100.0) == "expired"
    assert key(revoked_at=5.0).live(1.0) == "revoked"
