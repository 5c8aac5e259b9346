"""Masking secrets in free text: URLs, libpq keywords, tokens, headers."""

from __future__ import annotations

import pytest

from vigil.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://app:s3cret@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("redis://u:p@ssw0rd-tail@127.0.0.1:9/0", "redis://u:***@127.0.0.1:9/0"),
        ("redis://:onlypass@h:6379/0", "redis://:***@h:6379/0"),
        ("host=db password=a1;tail user=u", "host=db password=*** user=u"),
        ("password='ab\\'cd ef' host=x", "password=*** host=x"),
        ("http://h/x?access_token=abc&b=1", "http://h/x?access_token=***"),
        ("X-Api-Key: abc123", "X-Api-Key: ***"),
        ("Authorization: Bearer abcdefgh12345", "Authorization: Bearer ***"),
        ("{'password': 'abc', 'host': 'h'}", "{'password': ***, 'host': 'h'}"),
        ("tokens_total=5 passed", "tokens_total=5 passed"),
    ],
)
def test_secrets_are_masked(text: str, masked: str) -> None:
    assert redact_text(text) == masked


def test_a_user_name_alone_in_a_url_is_masked_as_a_token() -> None:
    assert redact_url("redis://tok3n@h:6379/0") == "redis://***@h:6379/0"


@pytest.mark.parametrize(
    "prose",
    [
        "JWT_SECRET: 2 different values: value 1 in web-secrets",
        "secret/api-token: does not exist",
        "password reset emails are queued",
    ],
)
def test_prose_about_secrets_stays_readable(prose: str) -> None:
    assert redact_text(prose) == prose
