"""How a page of the query log is read: the filter as SQL, and the choice of
path through a large SQLite log when no index holds the filter.

A page is read newest first by (``at_ms``, ``id``), the order of both log
indexes (SQLite keeps the row id at the end of every index entry), so the
read stops after ``limit`` matches. That is instant when matches are
common, but a filter no index holds (profile, action, tag, name) that
matches little makes the read visit every row of the range through the
index, one lookup per row. So on SQLite, without a device to narrow the
read, the newest ``PROBE_ROWS`` rows of the range are read through the
index first; if they hold too few matches, the rest of the range is read
in row order (about half the cost per row) whenever that reads fewer rows
than twice the range itself, which is the case for ranges that reach the
present. PostgreSQL's planner, which knows the table, is left to choose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Row, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

from dnsfilter.store.querylog.models import QueryLogRow

if TYPE_CHECKING:
    from dnsfilter.store.querylog.queries import LogFilter

PROBE_ROWS = 20_000
# Reading in row order costs about half as much per row as through the index.
ROW_ORDER_ADVANTAGE = 2.0
_LIKE_ESCAPE = "!"

COLUMNS = (
    QueryLogRow.id,
    QueryLogRow.at_ms,
    QueryLogRow.instance,
    QueryLogRow.device,
    QueryLogRow.profile_id,
    QueryLogRow.name,
    QueryLogRow.qtype,
    QueryLogRow.action,
    QueryLogRow.reason,
    QueryLogRow.category,
    QueryLogRow.tags,
    QueryLogRow.list_id,
    QueryLogRow.rule,
    QueryLogRow.upstream,
    QueryLogRow.response_us,
    QueryLogRow.rcode,
    QueryLogRow.answer,
    QueryLogRow.repeats,
)


def conditions(
    where: LogFilter, *, postgresql: bool = False, times: bool = True, unindexed: bool = False
) -> list[ColumnElement[bool]]:
    """``where`` as SQL conditions; ``times=False`` leaves out the time range,
    ``unindexed`` (SQLite only) keeps the planner off the indexes for them."""
    at_ms: Any = off_index(QueryLogRow.at_ms) if unindexed else QueryLogRow.at_ms
    device: Any = off_index(QueryLogRow.device) if unindexed else QueryLogRow.device
    found: list[ColumnElement[bool]] = []
    if times and where.since_ms is not None:
        found.append(at_ms >= where.since_ms)
    if times and where.until_ms is not None:
        found.append(at_ms < where.until_ms)
    if where.device is not None:
        found.append(device == where.device)
    if where.profile_id is not None:
        found.append(QueryLogRow.profile_id == where.profile_id)
    if where.action is not None:
        found.append(QueryLogRow.action == where.action)
    if where.tag is not None:
        # Tags are stored "a,b,c": a whole tag is one between commas.
        listed = literal(",") + QueryLogRow.tags + literal(",")
        found.append(listed.like(f"%,{_like_escaped(where.tag)},%", escape=_LIKE_ESCAPE))
    if where.name_contains is not None:
        # The pattern is bound with the column's type, which stores backslashes
        # doubled, so it meets the names as they are stored.
        pattern = f"%{_like_escaped(where.name_contains)}%"
        if postgresql:
            found.append(QueryLogRow.name.ilike(pattern, escape=_LIKE_ESCAPE))
        else:
            found.append(QueryLogRow.name.like(pattern, escape=_LIKE_ESCAPE))  # SQLite: ASCII case-insensitive
    return found


def off_index(column: Any) -> Any:
    """``+column``: SQLite's documented way to keep a term off the indexes."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _like_escaped(text: str) -> str:
    escaped = text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
    return escaped.replace("%", _LIKE_ESCAPE + "%").replace("_", _LIKE_ESCAPE + "_")


def read_page(
    session: Session,
    where: LogFilter,
    *,
    upper: int | None,
    cursor: tuple[int, int] | None,
    limit: int,
    postgresql: bool,
) -> list[Row[Any]]:
    """Up to ``limit`` rows matching ``where`` (its until_ms ignored: ``upper``
    is the inclusive bound on at_ms) sorting below ``cursor`` (at_ms, id),
    newest first."""
    scanned = where.profile_id, where.action, where.tag, where.name_contains
    if postgresql or where.device is not None or all(value is None for value in scanned):
        return _through_index(session, where, upper, cursor, limit, postgresql)
    window: list[ColumnElement[bool]] = [QueryLogRow.at_ms <= upper] if upper is not None else []
    if where.since_ms is not None:
        window.append(QueryLogRow.at_ms >= where.since_ms)
    floor = session.execute(
        select(QueryLogRow.at_ms).where(*window).order_by(QueryLogRow.at_ms.desc()).offset(PROBE_ROWS).limit(1)
    ).scalar_one_or_none()
    if floor is None:  # a short range: the index reads it quickly
        return _through_index(session, where, upper, cursor, limit, postgresql)
    rows = _through_index(session, where, upper, cursor, limit, postgresql, above=floor)
    if len(rows) == limit:
        return rows
    oldest = _first_id_at(session, where.since_ms) if where.since_ms is not None else _edge_id(session, newest=False)
    newest = _edge_id(session, newest=True)
    rest = max(_first_id_at(session, floor + 1) - oldest, 1)
    if newest - oldest > ROW_ORDER_ADVANTAGE * rest:
        return rows + _through_index(session, where, floor, cursor, limit - len(rows), postgresql)
    return rows + _in_row_order(session, where, floor, cursor, limit - len(rows))


def _through_index(
    session: Session,
    where: LogFilter,
    upper: int | None,
    cursor: tuple[int, int] | None,
    limit: int,
    postgresql: bool,
    above: int | None = None,
) -> list[Row[Any]]:
    found = conditions(where, postgresql=postgresql, times=False)
    # One bound each way, so that the index range is exactly the rows wanted.
    lower = [bound for bound in (where.since_ms, None if above is None else above + 1) if bound is not None]
    if lower:
        found.append(QueryLogRow.at_ms >= max(lower))
    if upper is not None:
        found.append(QueryLogRow.at_ms <= upper)
    if cursor is not None:
        found.append(or_(QueryLogRow.at_ms < cursor[0], QueryLogRow.id < cursor[1]))
    query = select(*COLUMNS).where(*found).order_by(QueryLogRow.at_ms.desc(), QueryLogRow.id.desc()).limit(limit)
    return list(session.execute(query))


def _in_row_order(
    session: Session, where: LogFilter, upper: int, cursor: tuple[int, int] | None, limit: int
) -> list[Row[Any]]:
    """The same rows read by row id from the oldest the range can hold, sorted afterwards."""
    at_ms = off_index(QueryLogRow.at_ms)
    found = conditions(where, times=False)
    found.append(at_ms <= upper)
    if where.since_ms is not None:
        found += [QueryLogRow.id >= _lowest_id_in(session, where.since_ms, upper), at_ms >= where.since_ms]
    if cursor is not None:
        found.append(or_(at_ms < cursor[0], QueryLogRow.id < cursor[1]))
    query = select(*COLUMNS).where(*found).order_by(at_ms.desc(), QueryLogRow.id.desc()).limit(limit)
    return list(session.execute(query))


def _lowest_id_in(session: Session, since_ms: int, upper: int) -> int:
    """The lowest id of a row from ``since_ms`` to ``upper``, exactly: read from
    the index entries in that range, or the rows before it in id order,
    whichever are fewer (a ``min`` without an upper bound would read by id)."""
    newest = _edge_id(session, newest=True)
    near = _first_id_at(session, since_ms)
    if near - _edge_id(session, newest=False) < _first_id_at(session, upper + 1) - near:
        at_ms = off_index(QueryLogRow.at_ms)
        query = select(QueryLogRow.id).where(at_ms >= since_ms, at_ms <= upper).order_by(QueryLogRow.id).limit(1)
    else:
        query = select(func.min(QueryLogRow.id)).where(QueryLogRow.at_ms >= since_ms, QueryLogRow.at_ms <= upper)
    lowest = session.execute(query).scalar_one_or_none()
    return int(lowest) if lowest is not None else newest + 1


def _first_id_at(session: Session, at_ms: int) -> int:
    """The id of the first row at or after ``at_ms`` in time order: where the
    ids of that time roughly are (rows written late aside)."""
    query = select(QueryLogRow.id).where(QueryLogRow.at_ms >= at_ms).order_by(QueryLogRow.at_ms, QueryLogRow.id)
    found = session.execute(query.limit(1)).scalar_one_or_none()
    return int(found) if found is not None else _edge_id(session, newest=True) + 1


def _edge_id(session: Session, *, newest: bool) -> int:
    edge = func.max(QueryLogRow.id) if newest else func.min(QueryLogRow.id)
    return int(session.execute(select(edge)).scalar_one() or 0)


__all__ = ["COLUMNS", "PROBE_ROWS", "conditions", "off_index", "read_page"]
