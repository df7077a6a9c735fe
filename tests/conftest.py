"""Fixtures shared by every test: a fake upstream, a DNS client, TLS contexts,
and an empty policy database on SQLite and on PostgreSQL.

PostgreSQL tests use a new schema on the server named by
DNSFILTER_TEST_POSTGRESQL_URL (default: the local server, database "test"),
dropped afterwards; they are skipped, with the reason shown, when it is unreachable.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsfilter.store import Database, PolicyStore, open_database
from tests.fakes import DnsClient, FakeUpstream

POSTGRESQL_URL = os.environ.get("DNSFILTER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    """A started FakeUpstream on 127.0.0.1 (UDP and TCP on ``.port``), closed afterwards."""
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def dns_client() -> DnsClient:
    return DnsClient(timeout=2.0)


@dataclass(frozen=True, slots=True)
class TlsContexts:
    """A throwaway CA and a server certificate for localhost, 127.0.0.1 and ::1.

    ``server`` serves that certificate; ``client`` trusts only that CA and
    verifies host names. The PEM files stay available for tests that need paths.
    """

    server: ssl.SSLContext
    client: ssl.SSLContext
    ca_file: Path
    cert_file: Path
    key_file: Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_tls_contexts(directory: Path) -> TlsContexts:
    """Create the CA and server certificate with the openssl command in ``directory``."""
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=dnsfilter test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl("req", "-new", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=directory)
    (directory / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "server.pem", directory / "server.key")
    client = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    return TlsContexts(server, client, directory / "ca.pem", directory / "server.pem", directory / "server.key")


@pytest.fixture(scope="session")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> TlsContexts:
    """Server and client SSL contexts from a throwaway CA; skips when openssl is missing."""
    if shutil.which("openssl") is None:
        print("openssl command not found: cannot make a throwaway CA")
        pytest.skip("openssl command not found: cannot make a throwaway CA for TLS tests")
    return make_tls_contexts(tmp_path_factory.mktemp("tls"))


# --- the policy database -------------------------------------------------------


def _postgresql_schema_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    schema = f"dnsfilter_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRESQL_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        reason = f"PostgreSQL is not reachable at {POSTGRESQL_URL}: {error}".strip()
        print(reason)
        pytest.skip(reason)
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{POSTGRESQL_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'policy.db'}"
    else:
        yield from _postgresql_schema_url()


@pytest.fixture
def open_db(database_url: str) -> Iterator[Callable[..., Database]]:
    """Opens Databases on ``database_url`` (keyword arguments go to open_database); all closed afterwards."""
    opened: list[Database] = []

    def opener(**kwargs: object) -> Database:
        database = open_database(database_url, **kwargs)  # type: ignore[arg-type]
        opened.append(database)
        return database

    yield opener
    for database in opened:
        database.close()


@pytest.fixture
def database(open_db: Callable[..., Database]) -> Database:
    return open_db()


@pytest.fixture
def store(database: Database) -> PolicyStore:
    return PolicyStore(database)
