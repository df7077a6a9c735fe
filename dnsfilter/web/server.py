"""Running the page in the filter's own loop (aiohttp's AppRunner and TCPSite),
beside DNS: started after the service, stopped before it.

With no password set yet, a one-time setup code is printed to the service's
log (and so to the console of ``dnsfilter run``): whoever can read the box's
log can set the first password from the page; nobody else can.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
from pathlib import Path
from typing import Final

from aiohttp import web

from dnsfilter import shipped_folder
from dnsfilter.config import Config
from dnsfilter.errors import DnsFilterError, ListenError
from dnsfilter.service.accounts import new_setup_code
from dnsfilter.service.app import Service
from dnsfilter.web.api_home import UPDATES
from dnsfilter.web.api_stats import PAST_DAYS, PastDays
from dnsfilter.web.context import WebContext
from dnsfilter.web.health import add_health
from dnsfilter.web.hosts import HostAllowlist
from dnsfilter.web.metrics import add_metrics
from dnsfilter.web.openapi import OPENAPI_ROUTE
from dnsfilter.web.routes import add_routes
from dnsfilter.web.security import CONTEXT, HOSTS, guard, require_session

log = logging.getLogger(__name__)

# The front-end, next to the package (like blocklists/).
WEBUI_DIR: Final = shipped_folder("webui")
SELF_SIGNED_DAYS: Final = 3650


def build_app(context: WebContext, hosts: HostAllowlist, webui: Path = WEBUI_DIR) -> web.Application:
    app = web.Application(middlewares=[guard, require_session], client_max_size=64 * 1024)
    app[CONTEXT] = context
    app[HOSTS] = hosts
    app[UPDATES] = set()
    app[PAST_DAYS] = PastDays()
    add_routes(app)
    add_routes(app, (OPENAPI_ROUTE,))
    # Outside the API (no session, not in its document): for monitors and Prometheus.
    add_metrics(app, context, add_health(app))
    index = webui / "index.html"

    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", page)
    app.router.add_static("/static/", webui, follow_symlinks=False, show_index=False)
    return app


class WebServer:
    """The page of one running service, on ``web.listen`` (None when turned off)."""

    def __init__(self, service: Service, webui: Path = WEBUI_DIR) -> None:
        self.service = service
        self.webui = webui
        self.context = WebContext(service, tls=service.config.web.tls != "off")
        self._runner: web.AppRunner | None = None
        self.bound: tuple[str, int] | None = None

    async def start(self) -> None:
        settings = self.service.config.web
        if not settings.enabled:
            return
        await self._offer_setup_code()
        hosts = HostAllowlist(settings.hosts, settings.listen.host, settings.listen.port)
        app = build_app(self.context, hosts, self.webui)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        context = self._tls_context() if settings.tls != "off" else None
        site = web.TCPSite(runner, settings.listen.host, settings.listen.port, ssl_context=context)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise ListenError(
                f"The web page cannot listen on {settings.listen}: {error.strerror}. Choose another "
                "web.listen (or stop what uses that port)."
            ) from error
        self._runner = runner
        sockets = getattr(site._server, "sockets", None) or []  # the port actually bound (port 0 in tests)
        host, port = sockets[0].getsockname()[:2] if sockets else (settings.listen.host, settings.listen.port)
        self.bound = (str(host), int(port))
        hosts.port = int(port)
        scheme = "https" if context is not None else "http"
        log.info("web page for parents on %s://%s:%d/", scheme, settings.listen.host, port)

    async def _offer_setup_code(self) -> None:
        try:
            has_password = await asyncio.to_thread(self.context.accounts.has_password)
        except DnsFilterError:
            has_password = False  # the database answers later: a code now lets the first password be set then
        if has_password:
            return
        self.context.setup_code = new_setup_code()
        log.warning(
            "No password is set for the web page yet. Open it and enter this one-time setup code: %s "
            "(or run: dnsfilter passwd)", self.context.setup_code,
        )

    def _tls_context(self) -> ssl.SSLContext:
        settings = self.service.config.web
        if settings.tls == "files":
            assert settings.certificate is not None and settings.key is not None
            certificate, key = Path(settings.certificate), Path(settings.key)
        else:
            certificate, key = self._self_signed()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(certificate, key)
        except (OSError, ssl.SSLError) as error:
            raise ListenError(
                f"The web page's certificate {certificate} or key {key} cannot be used ({error}); "
                "check the files, or set web.tls to self_signed."
            ) from error
        return context

    def _self_signed(self) -> tuple[Path, Path]:
        """A certificate made once for this box and kept in the data directory."""
        folder = self.service.config.data_dir / "web-tls"
        certificate, key = folder / "certificate.pem", folder / "key.pem"
        if certificate.exists() and key.exists():
            return certificate, key
        folder.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(SELF_SIGNED_DAYS),
                 "-subj", "/CN=dnsfilter", "-keyout", str(key), "-out", str(certificate)],
                check=True, capture_output=True, timeout=60,
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise ListenError(
                f"Could not make a certificate for the web page ({error}). Install openssl "
                "(sudo apt-get install openssl), or set web.tls to off or files."
            ) from error
        key.chmod(0o600)
        log.info("made a self-signed certificate for the web page in %s", folder)
        return certificate, key

    async def reload(self, config: Config) -> None:
        """The page keeps its address until a restart; the rest follows the service's config."""
        if config.web.listen != self.service.config.web.listen:
            log.warning("web.listen changed: the web page moves there at the next restart")

    async def stop(self) -> None:
        if self._runner is not None:
            running = self._runner.app[UPDATES]
            tasks = [*running]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
            await self._runner.cleanup()
            self._runner = None
