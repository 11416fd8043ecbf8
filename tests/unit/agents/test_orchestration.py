from __future__ import annotations

import json

from plano.agents.orchestration import AgentChainError, AgentClientError, base_of, with_reply


def test_reply_goes_before_the_final_user_message() -> None:
    history = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    out = with_reply(history, "weather", "sunny")
    assert out == [
        history[0],
        history[1],
        {"role": "assistant", "name": "weather", "content": "sunny"},
        history[2],
    ]
    assert len(history) == 3  # not mutated


def test_reply_without_user_message_is_appended() -> None:
    out = with_reply([{"role": "system", "content": "s"}], "x", "t")
    assert out[-1] == {"role": "assistant", "name": "x", "content": "t"}


def test_error_bodies_have_the_original_shapes() -> None:
    client = json.loads(AgentClientError("guard", 403, b'{"m": 1}').own_body())
    assert client == {
        "error": "ClientError",
        "agent": "guard",
        "status": 403,
        "agent_response": '{"m": 1}',
    }
    chain = json.loads(AgentChainError("boom", 502, ["f", "a"]).own_body())
    assert chain["error"]["type"] == "AgentFilterChainError"
    assert chain["error"]["error_chain"] == ["f", "a"]


def test_agent_url_path_is_ignored() -> None:
    assert base_of("http://agent:10510/some/path") == "http://agent:10510"
