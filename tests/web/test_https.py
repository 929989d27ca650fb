"""``triad serve`` over https (a self-signed certificate made here), and its console's cookie.

Over https the session cookie is ``__Host-triad_console``: Secure, HttpOnly, SameSite=Strict,
Path=/ (so no subdomain or path can plant or read it); a form posts over https too (its
origin check compares https with https). Half a certificate pair, or one that is not PEM,
is refused before the server starts: one line, exit 2.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fixtures.cli_processes import triad
from tests.fixtures.servers import triad_serve
from tests.web.conftest import Console, Watched, _seed, sign_in
from triadops.settings import Settings

pytestmark = pytest.mark.slow


def self_signed(folder: Path) -> tuple[Path, Path]:
    """Write a one-day certificate for 127.0.0.1 and its key; return their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_console(settings: Settings, tmp_path: Path) -> AsyncIterator[Console]:
    """``triad serve --ssl-certfile --ssl-keyfile`` over the seeded database."""
    tokens, operations = await _seed(settings)
    pair = self_signed(tmp_path)
    async with triad_serve(settings, tmp_path, {"TRIAD_MONITOR": "false"}, tls=pair) as served:
        assert served.url.startswith("https://")
        yield Console(served.url, settings, tokens, operations, served.stderr)


@pytest.fixture
async def tls_page(chromium: Any) -> AsyncIterator[Watched]:
    """A page in a context that accepts the self-signed certificate."""
    context = await chromium.new_context(ignore_https_errors=True)
    watched = Watched(await context.new_page())
    watched.page.on(
        "console", lambda m: watched.errors.append(m.text) if m.type == "error" else None
    )
    try:
        yield watched
    finally:
        await context.close()


async def test_over_https_the_session_cookie_is_host_bound_secure_and_strict(
    tls_console: Console, tls_page: Watched
) -> None:
    await sign_in(tls_page, tls_console, "vic")
    cookies = await tls_page.page.context.cookies()
    assert [c["name"] for c in cookies] == ["__Host-triad_console"]
    (cookie,) = cookies
    assert cookie["secure"] is True and cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert "domain" not in cookie or cookie["domain"] == "127.0.0.1"
    # A form posts over https: the page's origin is the server's own.
    page = tls_page.page
    await page.goto(tls_console.page_url("/audit"))
    await page.click("#verify-form button[type=submit]")
    assert (await page.locator("#verify-result").text_content() or "").startswith("Intact:")
    assert page.url.startswith("https://")
    assert tls_page.errors == []


def test_half_a_pair_or_a_bad_one_is_refused_before_serving(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = {"TRIAD_HOME": str(tmp_path / "home"), "TRIAD_CONFIG": ""}
    half = triad(env, "serve", "--ssl-certfile", str(cert))
    assert half.returncode == 2, half.stderr
    assert "give both or neither" in half.stderr and len(half.stderr.strip().splitlines()) == 1
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    bad = triad(env, "serve", "--ssl-certfile", str(not_pem), "--ssl-keyfile", str(key))
    assert bad.returncode == 2, bad.stderr
    assert "do not load as a PEM certificate" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
