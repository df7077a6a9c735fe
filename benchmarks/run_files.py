"""The files one benchmark run reads and writes: names in, raw outputs and table out."""

from __future__ import annotations

import datetime
import gzip
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench_servers import OURS, REPO_ROOT

DEFAULT_NAMES = REPO_ROOT / ".." / "shared" / "data" / "bench" / "allowed-100k.txt.gz"
RESULTS_ROOT = REPO_ROOT / "benchmarks" / "results"
_HOSTNAME = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*\Z")


class SetupError(RuntimeError):
    """The benchmark cannot run here (tools or names missing)."""


def require_files(*inputs: tuple[Path, str]) -> None:
    """Each (path, option) names an input file that must exist."""
    for path, option in inputs:
        if not path.is_file():
            raise SetupError(f"{path} not found; pass another file with {option}")


def require_ours() -> None:
    missing = OURS.missing_reason()
    if missing:
        raise SetupError(f"ours cannot be measured: {missing}")


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Where this run reads and writes."""

    results_dir: Path
    scratch_dir: Path
    names_file: Path  # one name per line, for the fake upstream
    queries_file: Path  # "name A" per line, for dnsperf


def save_report(files: RunFiles, text: str) -> None:
    """Print the report and keep it as table.txt in the results folder."""
    print("\n" + text)
    (files.results_dir / "table.txt").write_text(text + "\n")
    print(f"\nresults: {files.results_dir}")


def finish(files: RunFiles, sections: list[str], failure: str | None) -> int:
    """The report's sections (and the failure, if any) saved; the exit status: 1 after a failure."""
    if failure is not None:
        sections.append(f"! {failure}")
    save_report(files, "\n\n".join(sections))
    return 1 if failure is not None else 0


def read_names(source: Path, count: int) -> list[str]:
    """The first ``count`` distinct valid host names of ``source`` (text or gzip)."""
    try:
        with (
            gzip.open(source, "rt") if source.suffix == ".gz" else source.open()
        ) as lines:
            names: dict[str, None] = {}
            for line in lines:
                name = line.strip().rstrip(".").lower()
                if len(name) <= 253 and _HOSTNAME.match(name):
                    names[name] = None
                    if len(names) == count:
                        break
    except OSError as error:
        raise SetupError(
            f"cannot read names from {source}: {error}; pass another list with --names"
        ) from error
    if not names:
        raise SetupError(f"no host names in {source}; pass another list with --names")
    return list(names)


def prepare_files(
    names: list[str], *, keep: bool, benchmark: str = "dns_cached"
) -> RunFiles:
    """Results and scratch directories, with the names and dnsperf query files.

    With ``keep`` the results go to a timestamped directory no later run
    replaces, and the scratch files live inside it; otherwise results go to
    ``<benchmark>/`` (replaced each run) and scratch to a temporary directory.
    """
    if keep:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        results_dir = RESULTS_ROOT / f"{benchmark}-{stamp}"
        scratch_dir = results_dir / "scratch"
    else:
        results_dir = RESULTS_ROOT / benchmark
        shutil.rmtree(results_dir, ignore_errors=True)
        scratch_dir = Path(tempfile.mkdtemp(prefix=f"{benchmark}-"))
    scratch_dir.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    names_file = scratch_dir / "names.txt"
    names_file.write_text("".join(f"{name}\n" for name in names))
    queries_file = scratch_dir / "queries.txt"
    queries_file.write_text("".join(f"{name} A\n" for name in names))
    return RunFiles(results_dir, scratch_dir, names_file, queries_file)


def read_first_name(files: RunFiles) -> str:
    with files.names_file.open() as names:
        return names.readline().strip()


def run_benchmark(name: str, run: Callable[[], int]) -> int:
    """Run a benchmark's ``run`` as its command-line entry point.

    SIGTERM and Ctrl-C unwind through every ``finally``, which stops the
    processes the benchmark started; setup problems become exit code 2.
    """
    from tool_install import ToolInstallError

    def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # Ctrl-C must stop the run even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run()
    except (SetupError, ToolInstallError) as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted; every process it started has been stopped", file=sys.stderr)
        return 130
