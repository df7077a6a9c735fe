"""dnsfilter installed the ordinary way: an sdist, a wheel built from it, and a
fresh virtual environment far from the source tree that answers DNS with the
shipped lists and serves the shipped web page."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest
from dnslib import QTYPE

import dnsfilter
from tests.fakes import DnsClient, FakeUpstream

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("blocklists", "webui")
LISTENING = re.compile(r"answering DNS on (\S+) port (\d+)")
PAGE = re.compile(r"web page for parents on (\S+)")


def source_files() -> list[str]:
    """The files a clone has: tracked, or new and not ignored."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        reason = "building the package needs git and a clone of the repository"
        print(reason)
        pytest.skip(reason)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True,
    )  # fmt: skip
    return [name for name in listed.stdout.decode().split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel made from it, built from a copy of the clone (the
    source tree is not written to)."""
    if importlib.util.find_spec("build") is None:
        reason = "the 'build' package is missing (pip install -e '.[test]')"
        print(reason)
        pytest.skip(reason)
    copy = tmp_path_factory.mktemp("source")
    for name in source_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    out = tmp_path_factory.mktemp("dist")
    made = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(copy)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def installed(built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed by pip; its
    dependencies are borrowed from the test environment (without its editable
    dnsfilter), so the test needs no download."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())  # fmt: skip
    installing = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
         str(built["wheel"])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installing.returncode == 0, installing.stderr[-3000:]
    # A plain path entry: the test environment's .pth files (its editable
    # dnsfilter among them) are not run from it, so only the wheel's dnsfilter is found.
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_and_the_sdist_carry_the_catalog_lists_licences_and_web_page(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        in_wheel = set(wheel.namelist())
    for folder in SHIPPED:
        shipped = {str(path.relative_to(REPO)) for path in (REPO / folder).rglob("*") if path.is_file()}
        assert shipped, folder
        missing = {name for name in shipped if f"dnsfilter/{name}" not in in_wheel}
        assert not missing, f"not in the wheel: {sorted(missing)[:10]}"
    assert "dnsfilter/blocklists/NOTICE" in in_wheel and "dnsfilter/webui/index.html" in in_wheel
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in in_wheel)
    listing = subprocess.run(["tar", "-tzf", str(built["sdist"])], capture_output=True, text=True, check=True).stdout
    for needed in ("setup.py", "setup.cfg", "LICENSE", "README.md", "blocklists/catalog.yaml", "webui/index.html"):
        assert f"/{needed}\n" in listing, needed


def test_the_installed_command_knows_its_version_from_any_folder(installed: Path, tmp_path: Path) -> None:
    shown = subprocess.run(
        [str(installed / "bin" / "dnsfilter"), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )  # fmt: skip
    assert shown.returncode == 0 and shown.stdout.strip() == f"dnsfilter {dnsfilter.__version__}"
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import dnsfilter; print(dnsfilter.shipped_folder('blocklists'))"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(installed) and (Path(where) / "catalog.yaml").is_file()


async def test_the_installed_filter_blocks_with_the_shipped_lists_and_serves_the_page(
    installed: Path, tmp_path: Path, fake_upstream: FakeUpstream, dns_client: DnsClient
) -> None:
    fake_upstream.add("example.org. 300 IN A 192.0.2.7")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = tmp_path / "dnsfilter.yaml"
    config.write_text(
        'dns:\n  listen: ["127.0.0.1:0"]\n'
        f'upstream:\n  servers: ["{fake_upstream.address}"]\n'
        'web:\n  listen: "127.0.0.1:0"\n'
        f"data_dir: {tmp_path / 'data'}\n"
    )
    process = await asyncio.create_subprocess_exec(
        str(installed / "bin" / "dnsfilter"), "run", "-c", str(config),
        stderr=asyncio.subprocess.PIPE, cwd=elsewhere,
    )  # fmt: skip
    log: list[str] = []
    try:
        assert process.stderr is not None
        address: tuple[str, int] | None = None
        page: str | None = None
        while address is None or page is None:  # the shipped lists compile first: a few seconds
            line = (await asyncio.wait_for(process.stderr.readline(), 120)).decode()
            assert line, "the installed dnsfilter stopped:\n" + "".join(log)
            log.append(line)
            if found := LISTENING.search(line):
                address = (found.group(1), int(found.group(2)))
            if found := PAGE.search(line):
                page = found.group(1)
        blocked = await dns_client.query("www.pornhub.com", "A", address)
        assert [str(record.rdata) for record in blocked.rr if record.rtype == QTYPE.A] == ["0.0.0.0"]
        allowed = await dns_client.query("example.org", "A", address)
        assert [str(record.rdata) for record in allowed.rr] == ["192.0.2.7"]
        html = await asyncio.to_thread(lambda: urllib.request.urlopen(page, timeout=10).read().decode())
        assert "<html" in html.lower() and "dnsfilter" in html.lower()
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)
    assert process.returncode == 0, "".join(log)
