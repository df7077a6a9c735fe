"""A parent using the page without pause: web_ui.py's load on the web API.

    WEB_LOADER_COOKIE=TOKEN python benchmarks/web_loader.py --port P --seconds S PATH...

Requests each PATH in turn (GET, one at a time on one kept-alive connection,
the next as soon as the last is read), signed in with the session cookie
TOKEN (from the environment: a command line is visible to every user), until
S seconds have passed, then
prints one JSON line: per path the requests made, their statuses and their
times in ms. It stops on its own; web_ui.py also stops it, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from web_client import WebClient, WebError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    client = WebClient(args.port)
    client.cookie = os.environ.get("WEB_LOADER_COOKIE")
    times: dict[str, list[float]] = {path: [] for path in args.paths}
    failures: dict[str, list[str]] = {path: [] for path in args.paths}
    started = time.monotonic()
    deadline = started + args.seconds
    try:
        while time.monotonic() < deadline:
            for path in args.paths:
                if time.monotonic() >= deadline:
                    break
                try:
                    answer = client.get(path)
                except WebError as error:
                    failures[path].append(str(error))
                    continue
                if answer.status == 200:
                    times[path].append(answer.seconds * 1000)
                else:
                    failures[path].append(f"status {answer.status}")
    finally:
        client.close()
    print(
        json.dumps(
            {
                "seconds": time.monotonic() - started,
                "times_ms": times,
                "failures": {path: found[:3] for path, found in failures.items()},
                "failed": {path: len(found) for path, found in failures.items()},
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
