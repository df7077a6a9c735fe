"""The ``dnsfilter`` command. The only place errors become exit codes."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from dnsfilter import __version__
from dnsfilter.config import (
    DEFAULT_CONFIG,
    Config,
    load_config,
    parse_listen,
    parse_upstream,
)
from dnsfilter.config.values import parse_web_listen
from dnsfilter.errors import ConfigError, DnsFilterError, NoDatabase, UsageError
from dnsfilter.lists.catalog import BLOCKLISTS_DIR

# Every command reads the installed configuration unless told otherwise (cli/where.py).
CONFIG_HELP = "config file (default: $DNSFILTER_CONFIG, else /etc/dnsfilter/dnsfilter.yaml if it exists, else built-in)"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

log = logging.getLogger("dnsfilter")


def _listen_arg(text: str) -> Any:
    try:
        return parse_listen(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _web_arg(text: str) -> Any:
    try:
        return parse_web_listen(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _upstream_arg(text: str) -> Any:
    try:
        return parse_upstream(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsfilter",
        description="Parental-control DNS filter for the home network.",
    )
    parser.add_argument("--version", action="version", version=f"dnsfilter {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="answer DNS queries until stopped")
    run.add_argument("-c", "--config", type=Path, help=CONFIG_HELP)
    run.add_argument(
        "--listen", action="append", type=_listen_arg, metavar="ADDR:PORT",
        help="answer DNS on this address (repeatable; replaces dns.listen)",
    )
    run.add_argument(
        "--upstream", action="append", type=_upstream_arg, metavar="SERVER",
        help="ask this resolver: ADDR[:PORT], tcp://ADDR, tls://HOST[:PORT][#NAME] or "
        "https://HOST/PATH (repeatable; replaces upstream.servers)",
    )
    run.add_argument("--data-dir", type=Path, metavar="DIR", help="where state is kept (replaces data_dir)")
    run.add_argument(
        "--web", type=_web_arg, metavar="ADDR:PORT",
        help="the web page for parents on this address (replaces web.listen), e.g. 0.0.0.0:8080",
    )
    _add_catalog_option(run)

    check = commands.add_parser("check-config", help="check a config file and report every problem")
    check.add_argument("-c", "--config", type=Path, help="config file to check (default: the one the commands use)")
    _add_catalog_option(check)

    lists = commands.add_parser("lists", help="the blocklists: download updates now, or show their state")
    lists.add_argument("action", choices=("update", "status"), help="update: download and compile now; status: show each list")
    _add_config_options(lists)

    explain = commands.add_parser(
        "explain", help="say what the filter answers a device for a name, why, and by which list lines"
    )
    explain.add_argument("name", help="a domain name, e.g. www.example.org")
    who = explain.add_mutually_exclusive_group()
    who.add_argument(
        "--device", metavar="DEVICE",
        help="the device asking: its name, MAC or IP address, or key such as mac:aa:bb:cc:dd:ee:ff "
        "(default: a device the filter has not seen before)",
    )
    who.add_argument("--profile", metavar="NAME", help="explain for the devices in this profile")
    explain.add_argument(
        "--at", metavar="TIME",
        help='when: 21:30 (today), "2026-03-02 21:30" (both in the family\'s time zone) '
        "or 2026-03-02T21:30+01:00 (default: now)",
    )
    explain.add_argument(
        "--type", default="A", metavar="TYPE", help="the record type asked for: A, AAAA, HTTPS... (default: A)"
    )
    _add_config_options(explain)

    policy = commands.add_parser("policy", help="save the family policy as a YAML file, or replace it from one")
    policy_actions = policy.add_subparsers(dest="policy_action", required=True, metavar="ACTION")
    export = policy_actions.add_parser("export", help="write the whole policy as YAML")
    export.add_argument("-o", "--output", type=Path, metavar="OUT", help="write to this file (default, or -: standard output)")
    _add_config_options(export)
    load = policy_actions.add_parser(
        "import", help="check a policy file and, only if all of it is valid, replace the whole policy with it"
    )
    load.add_argument("file", type=Path, help="a file written by dnsfilter policy export")
    _add_config_options(load)
    _add_log_commands(commands)

    passwd = commands.add_parser(
        "passwd", help="set the password of the web page (read twice at a terminal, or one line of standard input)"
    )
    passwd.add_argument("-c", "--config", type=Path, help=CONFIG_HELP)
    passwd.add_argument("--data-dir", type=Path, metavar="DIR", help="where state is kept (replaces data_dir)")

    router = commands.add_parser(
        "router-rules", help="print firewall rules for an OpenWrt router that keep every device on this filter"
    )
    router.add_argument(
        "--format", choices=("nft", "iptables"), default="nft",
        help="nft: OpenWrt 22.03 or newer (firewall4, /etc/nftables.d/); iptables: older OpenWrt (default: nft)",
    )
    router.add_argument(
        "--filter-address", action="append", default=[], metavar="ADDR",
        help="this box's LAN address, IPv4 or IPv6 (repeatable; default: the LAN addresses in dns.listen)",
    )
    router.add_argument(
        "--lan-interface", action="append", default=[], metavar="NAME",
        help="the router's LAN interface (repeatable; default: br-lan)",
    )
    _add_config_options(router)
    return parser


def _add_log_commands(commands: Any) -> None:
    log = commands.add_parser("log", help="the queries the filter answered: search them, or follow them live")
    log_actions = log.add_subparsers(dest="log_action", required=True, metavar="ACTION")
    search = log_actions.add_parser("search", help="the newest queries that match, newest first")
    follow = log_actions.add_parser("tail", help="print queries as they are answered, until Ctrl-C")
    for command in (search, follow):
        command.add_argument("--device", metavar="DEVICE", help="its name, MAC or IP address, or key")
        command.add_argument("--profile", metavar="NAME", help="the devices in this profile")
        answer = command.add_mutually_exclusive_group()
        answer.add_argument("--blocked", action="store_const", const="block", dest="action", help="blocked ones only")
        answer.add_argument(
            "--action", choices=("allow", "block", "rewrite", "local_nxdomain", "local_nodata"),
            help="answered this way only",
        )
        command.add_argument("--tag", metavar="TAG", help='names listed under this category, or "service:NAME"')
        command.add_argument("--name", metavar="TEXT", help="names containing TEXT")
        command.add_argument("-c", "--config", type=Path, help=CONFIG_HELP)
        command.add_argument("--data-dir", type=Path, metavar="DIR", help="where state is kept (replaces data_dir)")
    when = "2h, 30m or 1d (ago), 21:30, 2026-03-02, \"2026-03-02 21:30\" (family's time zone) or 2026-03-02T21:30+01:00"
    search.add_argument("--since", metavar="TIME", help=f"from this time: {when}")
    search.add_argument("--until", metavar="TIME", help="up to this time (same forms)")
    search.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N queries (default: 50)")
    stats = commands.add_parser("stats", help="one day in numbers: queries, blocks, top sites, screen time")
    stats.add_argument("--day", default="today", metavar="DAY", help="YYYY-MM-DD, today or yesterday (default: today)")
    stats.add_argument("--profile", metavar="NAME", help="this profile's devices only")
    stats.add_argument("--device", metavar="DEVICE", help="this device only: its name, MAC or IP address, or key")
    stats.add_argument("-c", "--config", type=Path, help=CONFIG_HELP)
    stats.add_argument("--data-dir", type=Path, metavar="DIR", help="where state is kept (replaces data_dir)")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _add_config_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("-c", "--config", type=Path, help=CONFIG_HELP)
    command.add_argument("--data-dir", type=Path, metavar="DIR", help="where state is kept (replaces data_dir)")
    _add_catalog_option(command)


def _add_catalog_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--blocklists", type=Path, metavar="DIR", default=BLOCKLISTS_DIR,
        help="use the catalog and lists in DIR instead of the shipped blocklists/ folder",
    )


def _apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    if getattr(args, "listen", None):
        config = dataclasses.replace(config, dns=dataclasses.replace(config.dns, listen=tuple(args.listen)))
    if getattr(args, "upstream", None):
        config = dataclasses.replace(
            config, upstream=dataclasses.replace(config.upstream, servers=tuple(args.upstream))
        )
    if getattr(args, "web", None):
        config = dataclasses.replace(config, web=dataclasses.replace(config.web, listen=args.web))
    if args.data_dir is not None:
        config = dataclasses.replace(config, data_dir=args.data_dir)
    return config


def _loader(args: argparse.Namespace) -> Callable[[], Config]:
    path = args.choice.path

    def load() -> Config:
        config = load_config(path) if path is not None else DEFAULT_CONFIG
        return _apply_overrides(config, args)

    return load


def _stored(args: argparse.Namespace, *, data_dir: bool = False) -> Config:
    """The configuration of a command that works on what the filter stored (``data_dir``: its
    lists too); says which database, and stops early when the filter has stored nothing there."""
    from dnsfilter.cli.privileges import act_as_data_owner
    from dnsfilter.cli.where import require_data_dir, require_sqlite_file, using

    config = _loader(args)()
    print(using(config, args.choice), file=sys.stderr)
    act_as_data_owner(config.data_dir)  # run by root: the service's user, before anything is opened
    require_sqlite_file(config)
    if data_dir:
        require_data_dir(config)
    return config


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _command_run(args: argparse.Namespace) -> int:
    from dnsfilter.service import lifecycle  # imported here so check-config stays light

    load = _loader(args)
    config = load()  # fail before logging setup or sockets if it is wrong
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _run_loop(lifecycle.run(load, args.choice.describe(), args.blocklists, _web_page))
    return EXIT_OK


def _web_page(service: Any) -> list[Any]:
    if not service.config.web.enabled:
        return []  # not even imported: a box without the page keeps the memory
    from dnsfilter.web.server import WebServer

    return [WebServer(service)]


def _command_check_config(args: argparse.Namespace) -> int:
    from dnsfilter.cli.checkconfig import check_config

    if args.choice.path is None:
        raise UsageError(f"There is no configuration file to check ({args.choice.looked_at}); give one: -c FILE.")
    print(check_config(args.choice.path, args.blocklists))
    return EXIT_OK


def _command_lists(args: argparse.Namespace) -> int:
    from dnsfilter.cli import lists

    config = _stored(args, data_dir=True)
    if args.action == "status":
        print(lists.status_text(config, args.blocklists))
        return EXIT_OK
    return lists.update(config, args.blocklists)


def _command_explain(args: argparse.Namespace) -> int:
    from dnsfilter.cli import explain

    config = _stored(args, data_dir=True)
    source = args.choice.describe()
    print(
        explain.explain_text(
            config, args.name, source, args.blocklists,
            device=args.device, profile=args.profile, at=args.at, qtype=args.type,
        )
    )
    return EXIT_OK


def _command_policy(args: argparse.Namespace) -> int:
    from dnsfilter.cli import policy
    from dnsfilter.store.policyfile import read_policy_file

    # Read with the caller's own rights (a file in a parent's home folder), before
    # a command run by root acts as the service's user.
    text = read_policy_file(args.file) if args.policy_action == "import" else ""
    config = _stored(args)
    if args.policy_action == "export":
        policy.export(config, None if args.output in (None, Path("-")) else args.output)
    else:
        print(policy.import_text(config, text, args.file, args.blocklists))
    return EXIT_OK


def _command_log(args: argparse.Namespace) -> int:
    from dnsfilter.cli import log as log_command

    config = _stored(args)
    filters = log_command.Filters(args.device, args.profile, args.action, args.tag, args.name)
    if args.log_action == "search":
        print(log_command.search_text(config, filters, since=args.since, until=args.until, limit=args.limit))
        return EXIT_OK
    try:
        log_command.follow(config, filters, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _command_stats(args: argparse.Namespace) -> int:
    from dnsfilter.cli import log as log_command

    config = _stored(args)
    print(log_command.stats_text(config, day=args.day, profile=args.profile, device=args.device))
    return EXIT_OK


def _command_passwd(args: argparse.Namespace) -> int:
    from dnsfilter.cli import passwd

    print(passwd.set_password(_stored(args)))
    return EXIT_OK


def _command_router_rules(args: argparse.Namespace) -> int:
    from dnsfilter.cli import routerrules

    config = _loader(args)()
    print(f"dnsfilter: settings from {args.choice.describe()}", file=sys.stderr)
    given = routerrules.Request(args.format, tuple(args.filter_address), tuple(args.lan_interface), args.choice.path)
    try:
        text = routerrules.rules_text(config, args.choice.describe(), given, args.blocklists)
    except UsageError as error:
        print(f"dnsfilter router-rules: {error}", file=sys.stderr)
        return EXIT_CONFIG  # a wrong option, as for argparse's own usage errors
    print(text, end="")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    from dnsfilter.cli.where import choose_config, nothing_there

    args = build_parser().parse_args(argv)
    args.choice = choose_config(getattr(args, "config", None))
    handlers = {
        "run": _command_run,
        "check-config": _command_check_config,
        "lists": _command_lists,
        "explain": _command_explain,
        "policy": _command_policy,
        "log": _command_log,
        "stats": _command_stats,
        "passwd": _command_passwd,
        "router-rules": _command_router_rules,
    }
    try:
        return handlers[args.command](args)
    except NoDatabase as missing:
        print(f"dnsfilter: {nothing_there(missing, args.choice)}", file=sys.stderr)
        return EXIT_FAILURE
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    except DnsFilterError as error:
        print(f"dnsfilter: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # Output piped into head or less that quit early: not an error.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
