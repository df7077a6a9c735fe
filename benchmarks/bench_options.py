"""Command-line options the benchmark entry scripts share.

Each script keeps its own options and help texts; what they have in common
(whole positive numbers, comma lists, --list, --allowed, --duration, --rounds, --keep, --before and
the big log's options) is declared here once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from blocked_files import DEFAULT_LIST
from run_files import DEFAULT_NAMES


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def comma_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """argparse type: one or more of ``choices``, comma-separated."""

    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items or any(item not in choices for item in items):
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(choices)}")
        return items

    return parse


def add_list(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST, help=help_text)


def add_allowed(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--allowed", type=Path, default=DEFAULT_NAMES, help=help_text)


def add_duration(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--duration", type=positive, default=10, help=f"seconds {what} (default 10)"
    )


def add_rounds(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--rounds",
        type=positive,
        default=2,
        help=f"{what}; the best is reported (default 2)",
    )


def add_keep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        action="store_true",
        help="results in a timestamped directory no later run replaces, with the scratch files",
    )


def add_before(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--before",
        type=Path,
        metavar="PATH",
        help="also measure this dnsfilter executable (another build, e.g. a worktree "
        "at an older commit's .venv/bin/dnsfilter) as 'before', in the same run",
    )


def add_log_options(parser: argparse.ArgumentParser, keep_log_help: str) -> None:
    """--names, --count, --list, --log-rows and --keep-log: the cached load and the generated log."""
    parser.add_argument(
        "--names",
        type=Path,
        default=DEFAULT_NAMES,
        help="allowed names, text or .gz: the cached load and the log's allowed names",
    )
    parser.add_argument(
        "--count", type=positive, default=2000, help="cached names (default 2000)"
    )
    add_list(parser, "the big list, text or .gz: the log's blocked names")
    parser.add_argument(
        "--log-rows",
        type=positive,
        default=5_000_000,
        metavar="N",
        help="rows of the generated log (default 5000000)",
    )
    parser.add_argument("--keep-log", type=Path, metavar="PATH", help=keep_log_help)
