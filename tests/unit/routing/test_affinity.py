from __future__ import annotations

from plano.providers.catalogue import Api
from plano.routing.affinity import fnv1a, implicit_session, prefix_hash
from plano.routing.conversation import conversation_of


def test_fnv1a_known_value() -> None:
    # FNV-1a 64 of the salt alone, then the 0x1f separator (computed independently below).
    h = 0xCBF29CE484222325
    for byte in b"plano-affinity-v1\x1f":
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    assert fnv1a(()) == h


def test_session_key_depends_on_first_user_message_and_tenant() -> None:
    a = conversation_of(
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q1"}]},
        Api.OPENAI_CHAT,
    )
    b = conversation_of(
        {
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "q2"},
            ]
        },
        Api.OPENAI_CHAT,
    )
    assert implicit_session(a) == implicit_session(b)
    assert implicit_session(a) != implicit_session(a, "tenant")
    assert prefix_hash(a) == prefix_hash(b)
    key = implicit_session(a)
    assert key is not None and key.startswith("implicit:") and len(key) == len("implicit:") + 16


def test_no_user_message_no_session() -> None:
    c = conversation_of({"messages": [{"role": "system", "content": "s"}]}, Api.OPENAI_CHAT)
    assert implicit_session(c) is None
