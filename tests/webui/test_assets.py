"""The web UI's static files hold to the Content-Security-Policy and the
offline promise: no inline script or style, nothing fetched from elsewhere,
small, and the vendored libraries carry their licences."""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEBUI = REPO / "webui"
VENDOR = WEBUI / "vendor"
MAX_GZIP_BYTES = 500 * 1024
TEXT_SUFFIXES = {".html", ".js", ".css", ".json", ".md", ".svg"}
URL = re.compile(r"https?://", re.IGNORECASE)
# In vendored code, URLs in comments and XML namespaces are fine; loading from one is not.
REMOTE_LOAD = re.compile(
    r"""(?:\bimport\s*\(?\s*["']|\bfrom\s*["']|url\(\s*["']?|@import\s+["']?)https?://""", re.IGNORECASE
)
COMMENTS = re.compile(r"/\*.*?\*/|^\s*//[^\n]*$|(?<=[;{}),\s])//[^\"'`\n]*$", re.DOTALL | re.MULTILINE)
IMPORT = re.compile(r"""\}\s*from\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']|\bimport\s+[\w$]+\s+from\s*["']([^"']+)["']""")
VENDORED = ["preact", "htm", "uplot"]


class IndexScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[str | None] = []
        self.styles: list[str | None] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        values = dict(attrs)
        if "style" in names:
            self.problems.append(f"style= attribute on <{tag}>")
        if any(name.startswith("on") for name in names):
            self.problems.append(f"inline event handler on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            self.scripts.append(values.get("src"))
            if not values.get("src"):
                self.problems.append("inline <script>")
            self._in_script = True
        if tag == "link" and values.get("rel") == "stylesheet":
            self.styles.append(values.get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline script text")


def code_without_comments(path: Path) -> str:
    return COMMENTS.sub("", path.read_text(encoding="utf-8"))


def webui_files() -> list[Path]:
    return sorted(p for p in WEBUI.rglob("*") if p.is_file())


def test_index_has_no_inline_script_or_style() -> None:
    scan = IndexScan()
    scan.feed((WEBUI / "index.html").read_text(encoding="utf-8"))
    assert not scan.problems, scan.problems
    assert scan.scripts == ["/static/app.js"]
    assert "/static/style.css" in scan.styles
    assert all(href and href.startswith("/static/") for href in scan.styles), scan.styles


@pytest.mark.parametrize(
    "path",
    [p for p in webui_files() if p.suffix in TEXT_SUFFIXES and VENDOR not in p.parents],
    ids=lambda p: str(p.relative_to(WEBUI)),
)
def test_own_files_name_no_outside_address(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [line.strip()[:120] for line in text.splitlines() if URL.search(line)]
    assert not found, f"{path.relative_to(REPO)} names outside addresses (vendor everything): {found}"


@pytest.mark.parametrize(
    "path", [p for p in webui_files() if p.suffix in {".js", ".css"} and VENDOR in p.parents], ids=lambda p: p.name
)
def test_vendored_code_loads_nothing_from_outside(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not REMOTE_LOAD.search(text), f"{path.name} loads from an outside address"
    imports = [next(g for g in m if g) for m in IMPORT.findall(code_without_comments(path))]
    assert all(spec.startswith("./") for spec in imports), f"{path.name}: bare or remote imports {imports}"


def test_no_js_uses_eval_or_inner_html() -> None:
    bad = re.compile(r"\beval\s*\(|new\s+Function\s*\(|innerHTML|outerHTML|insertAdjacentHTML|dangerouslySetInnerHTML")
    found = [
        str(p.relative_to(REPO))
        for p in webui_files()
        if p.suffix == ".js" and VENDOR not in p.parents and bad.search(code_without_comments(p))
    ]
    assert not found, f"eval/innerHTML in: {found}"


def test_the_whole_ui_is_small_when_gzipped() -> None:
    total = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in webui_files())
    assert total < MAX_GZIP_BYTES, f"webui/ is {total / 1024:.0f} KiB gzipped, over {MAX_GZIP_BYTES // 1024} KiB"


@pytest.mark.parametrize("package", VENDORED)
def test_vendored_libraries_carry_their_licence(package: str) -> None:
    licence = VENDOR / f"LICENSE-{package}"
    assert licence.exists() and licence.stat().st_size > 200, f"{licence.name} is missing"
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    assert package in readme.lower(), f"vendor/README.md does not describe {package}"
