"""The sustained run: ours logging at its own max rate, and what that wrote to disk.

Before and after dnsperf (``-Q`` at the rate the logging side reached at
max), once the writer has stored everything it had (its counters stay the
same over more than a flush interval), it reads the query log's counters and
newest row id, ``write_bytes`` of the server process and the sizes of the
database file and its WAL. Then the server is stopped with SIGTERM (the
writer flushes what is left) and the database read again: the rows and
queries written since, and the queries dropped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench_servers import ManagedProcess, ProcessGroup
from blocked_runs import Bench
from process_usage import disk_write_bytes
from results_table import Load, Measurement, problem_notes
from server_measurement import measure, summarize
from sqlalchemy import func, select

from dnsfilter.config import QueryLogSettings
from dnsfilter.store.database import Database, open_database
from dnsfilter.store.querylog.models import QueryLogRow
from dnsfilter.store.querylog.queries import counters, latest_id

FLUSH_SECONDS = QueryLogSettings().flush_seconds  # the servers keep the default
SETTLE_PAUSE_SECONDS = FLUSH_SECONDS + 1.0  # longer than one flush interval
SETTLE_DEADLINE_SECONDS = 60.0
# "aim for under 200 KB including the WAL" per 1,000 logged queries
DISK_TARGET_BYTES = 200_000


@dataclass(frozen=True, slots=True)
class LogTotals:
    written: int  # queries logged, every filter writing to the database (log_counters)
    dropped: int  # queries lost because the buffer was full (log_counters)
    last_id: int  # the newest row


@dataclass(frozen=True, slots=True)
class DiskState:
    server_written: int  # bytes the server process wrote to storage so far
    database: int  # size of the database file
    wal: int  # size of its -wal file


@dataclass(frozen=True, slots=True)
class Sustained:
    rate: int
    seconds: int
    row: Measurement
    before: LogTotals
    after: LogTotals  # after the stop
    rows: int  # rows written after before.last_id
    repeats: int  # the queries they stand for
    disk_before: DiskState
    disk_after: DiskState  # once the writer had written the load, before the stop
    settled: bool  # False: the counters still moved at the deadline
    exit_code: int | None
    filesystem: str


def sustain(
    server: ManagedProcess,
    port: int,
    group: ProcessGroup,
    bench: Bench,
    *,
    rate: int,
    seconds: int,
    database_file: Path,
) -> Sustained:
    """dnsperf at ``rate`` q/s for ``seconds`` s against ``server``, which is
    stopped at the end; the readings around it."""
    database = open_database(f"sqlite:///{database_file}")
    try:
        bench.quiet_wait.before_run()
        before, _ = _settled(database)
        disk_before = _disk_state(server.pid, database_file)
        print(
            f"sustained: dnsperf -Q {rate} for {seconds} s against {server.name}",
            flush=True,
        )
        row = measure(
            server,
            port,
            Load("udp", rate),
            bench.files,
            bench.pinning,
            duration=seconds,
            tcp_queries_per_connection=None,
            output_name=f"{server.name}-sustained",
            per_query_lines=False,
        )
        print(summarize(row), flush=True)
        _, settled = _settled(database)
        disk_after = _disk_state(server.pid, database_file)
        group.stop(server)
        after = _log_totals(database)
        rows, repeats = _written_after(database, before.last_id)
    finally:
        database.close()
    return Sustained(
        rate=rate,
        seconds=seconds,
        row=row,
        before=before,
        after=after,
        rows=rows,
        repeats=repeats,
        disk_before=disk_before,
        disk_after=disk_after,
        settled=settled,
        exit_code=server.exit_code(),
        filesystem=filesystem_of(database_file),
    )


def _log_totals(database: Database) -> LogTotals:
    written = dropped = 0
    for _instance, queries, lost, _updated in counters(database):
        written += queries
        dropped += lost
    return LogTotals(written, dropped, latest_id(database))


def _settled(database: Database) -> tuple[LogTotals, bool]:
    """The totals once two readings more than a flush interval apart agree (the
    writer had its chance and wrote nothing); False with the last reading when
    they still moved after SETTLE_DEADLINE_SECONDS."""
    deadline = time.monotonic() + SETTLE_DEADLINE_SECONDS
    previous = _log_totals(database)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_PAUSE_SECONDS)
        current = _log_totals(database)
        if current == previous:
            return current, True
        previous = current
    return previous, False


def _written_after(database: Database, last_id: int) -> tuple[int, int]:
    """(rows, queries) written after row ``last_id``."""
    with database.reading() as session:
        rows, repeats = session.execute(
            select(func.count(), func.coalesce(func.sum(QueryLogRow.repeats), 0)).where(
                QueryLogRow.id > last_id
            )
        ).one()
    return int(rows), int(repeats)


def _disk_state(pid: int, database_file: Path) -> DiskState:
    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    wal = database_file.with_name(database_file.name + "-wal")
    return DiskState(disk_write_bytes(pid), size(database_file), size(wal))


def filesystem_of(path: Path) -> str:
    """The type and device of the file system holding ``path`` ("ext4 /dev/sda1")."""
    target = os.path.realpath(path)
    best = ("", "?", "?")
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "?"
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        device, mount_point, kind = (
            fields[0],
            fields[1].replace("\\040", " "),
            fields[2],
        )
        inside = target == mount_point or target.startswith(
            mount_point.rstrip("/") + "/"
        )
        if inside and len(mount_point) >= len(best[0]):
            best = (mount_point, kind, device)
    return f"{best[1]} {best[2]}"


def _kb(count: int, per: int) -> str:
    """``count`` bytes per 1,000 of ``per``, in KB (1,000 bytes)."""
    if per <= 0:
        return "-"
    per_thousand = count / per * 1000
    return f"{per_thousand / 1000:,.1f} KB"


def _mb(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"


def format_sustained(run: Sustained) -> str:
    """The sustained run's figures, with its verdicts."""
    title = (
        f"sustained: B (logging on) at {run.rate:,} q/s, its best max round, "
        f"for {run.seconds} s (dnsperf -Q)"
    )
    lines = [title, *problem_notes([run.row])]
    report = run.row.report
    if report is None:
        return "\n".join(lines)
    seconds = report.run_seconds or float(run.seconds)
    logged = run.after.written - run.before.written
    dropped = run.after.dropped - run.before.dropped
    missing = report.completed - logged
    written = run.disk_after.server_written - run.disk_before.server_written
    grown = (run.disk_after.database + run.disk_after.wal) - (
        run.disk_before.database + run.disk_before.wal
    )
    small = bool(logged) and written / logged * 1000 < DISK_TARGET_BYTES
    lines += [
        _figure(
            "dnsperf",
            f"{report.queries_per_second:,.0f} q/s; sent {report.sent:,}, "
            f"completed {report.completed:,}, lost {report.lost:,}",
        ),
        _figure(
            "queries logged",
            f"{logged:,} (log_counters written; the new rows' repeats add up to "
            f"{run.repeats:,}): {logged / seconds:,.0f}/s",
        ),
        _figure(
            "rows written",
            f"{run.rows:,}: {run.rows / seconds:,.0f}/s (one row per reply "
            "repeated to a device within its second)",
        ),
        _figure("dropped", f"{dropped:,} (log_counters dropped)"),
        _figure(
            "disk",
            f"the server wrote {_mb(written)} (write_bytes of /proc/PID/io, on "
            f"{run.filesystem}): {_kb(written, logged)} per 1,000 queries logged, "
            f"{_kb(written, run.rows)} per 1,000 rows",
        ),
        _figure(
            "database + WAL",
            f"{_mb(run.disk_before.database)} + {_mb(run.disk_before.wal)} before, "
            f"{_mb(run.disk_after.database)} + {_mb(run.disk_after.wal)} after: "
            f"grew {_mb(grown)}, {_kb(grown, logged)} per 1,000 queries logged",
        ),
        _figure(
            "server",
            f"{_number(run.row.cpu_us_per_query)} CPU µs/query, "
            f"{_number(run.row.server_cpu_percent)}% of its CPU; dnsperf "
            f"{_number(run.row.dnsperf_cpu_percent)}%",
        ),
    ]
    lines += [
        f"zero drops: {'yes' if dropped == 0 else 'NO'}",
        "every completed query logged: "
        + ("yes" if missing <= 0 else f"NO, {missing:,} missing"),
        f"disk per 1,000 queries logged under {DISK_TARGET_BYTES // 1000} KB: "
        + ("yes" if small else "NO"),
    ]
    if run.exit_code == 0:
        lines.append(
            "B stopped on SIGTERM with exit code 0 (the writer flushed at stop)"
        )
    else:
        lines.append(
            f"! B did not stop cleanly on SIGTERM (exit code {run.exit_code}): "
            "what it had not written is missing from the counts above"
        )
    if not run.settled:
        lines.append(
            f"! the log counters still moved {SETTLE_DEADLINE_SECONDS:.0f} s after the "
            "load: the disk figures miss what was written later"
        )
    if run.filesystem.startswith("tmpfs"):
        lines.append(
            "! the data dir is on tmpfs, whose writes /proc/PID/io does not count: "
            "set TMPDIR to a directory on a disk"
        )
    return "\n".join(lines)


def _figure(label: str, text: str) -> str:
    return f"  {label:<16} {text}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
