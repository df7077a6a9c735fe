"""The upstream servers the filter asks: how each is reached.

The configuration file and the command line write them as text
(``dnsfilter.config.values.parse_upstream``); the pool takes these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_PORTS: Final = {"udp": 53, "tcp": 53, "tls": 853, "https": 443}
DEFAULT_DOH_PATH: Final = "/dns-query"


@dataclass(frozen=True, slots=True)
class UpstreamServer:
    """One upstream resolver.

    ``tls_name`` is the name the server's certificate is checked against: the
    host itself when the host is a name; None when the host is an IP address
    and no name was given, in which case the certificate must carry that IP.
    """

    protocol: str
    host: str
    port: int
    path: str = ""
    tls_name: str | None = None

    def __str__(self) -> str:
        host = _bracketed(self.host)
        if self.protocol == "udp":
            return f"{host}:{self.port}"
        if self.protocol == "https":
            port = "" if self.port == DEFAULT_PORTS["https"] else f":{self.port}"
            text = f"https://{host}{port}{self.path}"
        else:
            text = f"{self.protocol}://{host}:{self.port}"
        if self.tls_name is not None and self.tls_name != self.host:
            text += f"#{self.tls_name}"
        return text


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
