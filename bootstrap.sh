#!/bin/sh
# Set up dnsfilter in a private virtual environment (.venv) and run it.
#
#   ./bootstrap.sh run [dnsfilter run options]   start the filter (default: DNS on 127.0.0.1:5300)
#   ./bootstrap.sh test [pytest options]         install the test tools and run the test suite
#
# Needs only python3 (3.11 or newer). On Debian and Raspberry Pi OS the
# python3-venv package is installed when it is missing and we are root.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
python=${PYTHON:-python3}

say() { printf 'bootstrap: %s\n' "$*" >&2; }

command -v "$python" >/dev/null 2>&1 || {
    say "python3 was not found. Install it first (Debian/Raspberry Pi OS: sudo apt-get install python3)."
    exit 1
}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    say "dnsfilter needs Python 3.11 or newer; this is $("$python" --version 2>&1)."
    exit 1
}

ensure_venv_support() {
    "$python" -c 'import ensurepip, venv' 2>/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing python3-venv (Debian splits it from python3)"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    else
        say "Python cannot create virtual environments here. Install python3-venv (sudo apt-get install python3-venv) and try again."
        exit 1
    fi
}

make_venv() {
    if [ ! -x "$venv/bin/python" ]; then
        ensure_venv_support
        say "creating $venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --upgrade pip
    fi
}

mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
    run)
        make_venv
        say "installing dnsfilter into $venv"
        "$venv/bin/python" -m pip install --quiet -e "$here"
        exec "$venv/bin/dnsfilter" run "$@"
        ;;
    test)
        make_venv
        say "installing dnsfilter and its test tools into $venv"
        "$venv/bin/python" -m pip install --quiet -e "$here[test]"
        cd "$here"
        exec "$venv/bin/python" -m pytest "$@"
        ;;
    *)
        say "usage: ./bootstrap.sh run [options] | ./bootstrap.sh test [pytest options]"
        exit 2
        ;;
esac
