"""SigV4 against AWS's published test-suite vectors, plus Bedrock credential selection."""

from __future__ import annotations

from datetime import UTC, datetime

from plano.providers.bedrock_auth import BedrockSigner, bedrock_credential, region_for
from plano.providers.sigv4 import Credentials, canonical_uri, sign, signing_key

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CREDS = Credentials("AKIDEXAMPLE", SECRET)
WHEN = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
SCOPE = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"


def vector(method: str, url: str) -> str:
    signed = sign(
        method,
        url,
        {},
        b"",
        region="us-east-1",
        credentials=CREDS,
        service="service",
        now=WHEN,
        content_sha256_header=False,
    )
    return dict(signed.headers)["authorization"]


def test_signing_key_example_from_aws_docs() -> None:
    key = signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_get_vanilla() -> None:
    assert vector("GET", "https://example.amazonaws.com/") == (
        f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_post_vanilla() -> None:
    assert vector("POST", "https://example.amazonaws.com/").endswith(
        "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    )


def test_get_vanilla_query_order_key_case() -> None:
    url = "https://example.amazonaws.com/?Param2=value2&Param1=value1"
    assert vector("GET", url).endswith(
        "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    )


def test_bedrock_model_path_is_encoded_twice() -> None:
    assert canonical_uri("/model/anthropic.claude-v2%3A1/converse") == (
        "/model/anthropic.claude-v2%253A1/converse"
    )


def test_session_token_and_payload_hash_are_signed() -> None:
    creds = Credentials("AKID", "secret", "TOKEN")
    signed = sign(
        "POST",
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/m/converse",
        {"Content-Type": "application/json"},
        b"{}",
        region="us-west-2",
        credentials=creds,
        now=WHEN,
    )
    headers = dict(signed.headers)
    assert headers["x-amz-security-token"] == "TOKEN"
    assert headers["x-amz-content-sha256"] == (
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )
    assert (
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
        in headers["authorization"]
    )
    assert "/us-west-2/bedrock/aws4_request" in headers["authorization"]


def test_credentials_never_in_repr() -> None:
    creds = Credentials("AKIDSECRETID", "verysecret", "tok")
    assert "verysecret" not in repr(creds)
    assert "verysecret" not in repr(BedrockSigner("us-east-1", creds))


def test_region_from_host_then_env() -> None:
    assert region_for("bedrock-runtime.eu-west-3.amazonaws.com", {}) == "eu-west-3"
    assert region_for("127.0.0.1", {"AWS_REGION": "ap-south-1"}) == "ap-south-1"
    assert region_for("127.0.0.1", {"AWS_DEFAULT_REGION": "ca-central-1"}) == "ca-central-1"
    assert region_for("127.0.0.1", {}) == "us-east-1"


def test_credential_precedence() -> None:
    env = {
        "AWS_BEARER_TOKEN_BEDROCK": "bt",
        "AWS_ACCESS_KEY_ID": "AK",
        "AWS_SECRET_ACCESS_KEY": "SK",
    }
    assert bedrock_credential("cfg", "h", env) == ("cfg", None)
    assert bedrock_credential(None, "h", env) == ("bt", None)
    del env["AWS_BEARER_TOKEN_BEDROCK"]
    token, signer = bedrock_credential(None, "h", env)
    assert token is None and signer is not None
    assert signer.credentials.access_key_id == "AK"
    assert bedrock_credential(None, "h", {}) == (None, None)
