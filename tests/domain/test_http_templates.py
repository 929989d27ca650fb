"""Templates of configured HTTP calls: the host is fixed, values are encoded, secrets named."""

from __future__ import annotations

import pytest

from triadops.domain.errors import NotFound
from triadops.domain.http_templates import (
    Origin,
    body_placeholders,
    expand_environment,
    header_placeholders,
    is_loopback,
    keys_with_placeholders,
    mask_environment,
    parse_url,
    render_body,
    render_url,
)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("128.0.0.1", False),
        ("localhost.evil.com", False),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
    ],
)
def test_loopback_is_this_machine_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_url_names_its_origin_with_the_default_port() -> None:
    assert parse_url("https://Example.org/a/{b}", params=True) == Origin(
        "https", "example.org", 443
    )
    assert parse_url("http://[::1]:8080/", params=False) == Origin("http", "::1", 8080)
    with pytest.raises(ValueError, match="takes no parameters"):
        parse_url("http://127.0.0.1/{b}", params=False)
    for bad in ("http://127.0.0.1\\@evil.com/", "http://127.0.0.1%2F@evil.com/", "http:///x"):
        with pytest.raises(ValueError, match="plain host name"):
            parse_url(bad, params=True)


def test_values_fill_the_path_and_query_only_each_encoded_whole() -> None:
    url = render_url(
        "http://127.0.0.1:9/a/{x}?q={x}&n={n}&on={on}", {"x": "a/b c&d", "n": 3, "on": True}
    )
    assert url == "http://127.0.0.1:9/a/a%2Fb%20c%26d?q=a%2Fb%20c%26d&n=3&on=true"
    assert render_url("http://127.0.0.1/a/{x}", {"x": ".."}) == "http://127.0.0.1/a/%2E%2E"
    assert render_url("http://127.0.0.1/a/{x}", {"x": "v1.2"}) == "http://127.0.0.1/a/v1.2"


def test_a_body_takes_typed_values_whole_and_text_inside_strings() -> None:
    body = {"n": "{n}", "on": ["{on}", "on={on}"], "note": "{x} at {n}", "{x}": 1, "fixed": None}

    assert render_body(body, {"n": 3, "on": False, "x": "a"}) == {
        "n": 3,
        "on": [False, "on=false"],
        "note": "a at 3",
        "{x}": 1,
        "fixed": None,
    }
    assert body_placeholders(body) == {"n", "on", "x"}
    assert keys_with_placeholders(body) == ["{x}"]


def test_headers_read_the_environment_and_nothing_else() -> None:
    template = "Bearer ${TOKEN} for ${TEAM}"

    assert expand_environment(template, {"TOKEN": "abc", "TEAM": "ops"}) == "Bearer abc for ops"
    assert mask_environment(template, "***") == "Bearer *** for ***"
    assert header_placeholders(template) == set() and header_placeholders("{who}") == {"who"}
    with pytest.raises(NotFound, match="environment variable TEAM is not set"):
        expand_environment(template, {"TOKEN": "abc"})
