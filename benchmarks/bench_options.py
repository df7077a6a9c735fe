"""Command-line options the benchmark entry scripts share.

Each script keeps its own options and help texts; what they have in common
(whole positive numbers, --list, --duration, --rounds, --keep) is declared here once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from blocked_files import DEFAULT_LIST


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def add_list(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST, help=help_text)


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
