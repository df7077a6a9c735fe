"""The page over HTTPS: a certificate made once on first start (web.tls:
self_signed, kept in the data directory), or the parent's own files; the
session cookie is then Secure."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from dnsfilter.errors import ListenError
from tests.conftest import TlsContexts
from tests.fakes import FakeUpstream
from tests.webpage import PASSWORD, page_config, running_page


def _client_that_trusts(certificate: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certificate) if certificate else None)
    if certificate is not None:
        # A self-signed certificate for "dnsfilter": trusted as itself, not by name.
        context.check_hostname = False
    return context


async def _sign_in_over_https(base: str, trust: ssl.SSLContext) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        headers = {"Origin": base, "Content-Type": "application/json"}
        state = await client.get(f"{base}/api/session", ssl=trust)
        assert state.status == 200 and (await state.json())["state"] == "login"
        signed_in = await client.post(f"{base}/api/login", json={"password": PASSWORD}, headers=headers, ssl=trust)
        await signed_in.read()
        return signed_in


async def test_a_self_signed_certificate_is_made_once_and_the_cookie_is_secure(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    config = page_config(tmp_path / "data", upstream, f"sqlite:///{tmp_path / 'policy.db'}", web={"tls": "self_signed"})
    certificate = config.data_dir / "web-tls" / "certificate.pem"
    async with running_page(config) as page:
        await page.set_password()
        assert page.server.bound is not None
        port = page.server.bound[1]
        base = f"https://127.0.0.1:{port}"
        made = certificate.read_bytes()
        assert (config.data_dir / "web-tls" / "key.pem").stat().st_mode & 0o077 == 0  # the key is the service's alone
        answer = await _sign_in_over_https(base, _client_that_trusts(certificate))
        assert answer.status == 200
        cookie = answer.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        # Plain HTTP to the same port is not answered as the page.
        async with aiohttp.ClientSession() as plain:
            with pytest.raises(aiohttp.ClientError):
                await plain.get(f"http://127.0.0.1:{port}/api/session")
    async with running_page(config):
        assert certificate.read_bytes() == made  # kept, not made again: browsers trust it once


async def test_the_parents_own_certificate_files(tmp_path: Path, upstream: FakeUpstream, tls_context: TlsContexts) -> None:
    web = {"tls": "files", "certificate": str(tls_context.cert_file), "key": str(tls_context.key_file)}
    config = page_config(tmp_path / "data", upstream, f"sqlite:///{tmp_path / 'policy.db'}", web=web)
    async with running_page(config) as page:
        await page.set_password()
        assert page.server.bound is not None
        port = page.server.bound[1]
        trust = ssl.create_default_context(cafile=str(tls_context.ca_file))
        answer = await _sign_in_over_https(f"https://localhost:{port}", trust)
        assert answer.status == 200 and "Secure" in answer.headers["Set-Cookie"]


async def test_certificate_files_that_cannot_be_read_stop_the_page_with_a_reason(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    missing = tmp_path / "nowhere.pem"
    web = {"tls": "files", "certificate": str(missing), "key": str(missing)}
    config = page_config(tmp_path / "data", upstream, f"sqlite:///{tmp_path / 'policy.db'}", web=web)
    with pytest.raises(ListenError, match="certificate .* cannot be used"):
        async with running_page(config):
            pass
