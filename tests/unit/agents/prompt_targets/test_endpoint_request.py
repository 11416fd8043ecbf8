from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from plano.agents.prompt_targets.endpoint_request import build_request, fill_path
from plano.agents.prompt_targets.tools import Endpoint


def endpoint(path: str, method: str) -> Endpoint:
    return Endpoint("api", "http://127.0.0.1:8080", None, path, method, (("X-K", "v"),), None)


def test_get_fills_the_path_and_puts_the_rest_in_the_query() -> None:
    req = build_request(
        endpoint("/devices/{id}/status?source=plano", "GET"),
        {"id": "a b/c", "detail": "full", "n": 2, "ok": True, "nested": {"x": 1}},
        (("x-request-id", "r1"),),
    )
    assert req.method == "GET" and req.body == b""
    assert req.url.startswith("http://127.0.0.1:8080/devices/a%20b%2Fc/status?")
    query = dict(parse_qsl(urlsplit(req.url).query))
    assert query == {"source": "plano", "detail": "full", "n": "2", "ok": "true"}
    assert ("x-request-id", "r1") in req.headers and ("X-K", "v") in req.headers
    assert ("x-envoy-max-retries", "3") in req.headers


def test_post_sends_a_json_body_with_the_templates_query() -> None:
    req = build_request(
        endpoint("/v1/latest?base=USD&symbols={sym}", "POST"), {"sym": "EUR", "days": 3}, ()
    )
    assert req.url == "http://127.0.0.1:8080/v1/latest?base=USD&symbols=EUR"
    assert req.body == b'{"base":"USD","symbols":"EUR","days":3}'


@given(st.text(), st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=10)))
def test_fill_path_never_leaves_a_used_placeholder(template: str, args: dict[str, str]) -> None:
    filled, used = fill_path(template, args)
    for name in used:
        assert "{" + name + "}" not in filled or name in unquote(filled)
