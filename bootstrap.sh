#!/bin/sh
# Set up dnsfilter in a private virtual environment (.venv) and run it, or
# install it on this box as a system service.
#
#   ./bootstrap.sh run [dnsfilter run options]   start the filter (default: DNS on 127.0.0.1:5300)
#   ./bootstrap.sh test [pytest options]         install the test tools and run the test suite
#   sudo ./bootstrap.sh install                  install the service: /opt/dnsfilter/venv,
#                                                /etc/dnsfilter/dnsfilter.yaml, the user dnsfilter,
#                                                the systemd unit, /usr/local/bin/dnsfilter
#   sudo ./bootstrap.sh uninstall [--purge]      remove it; --purge also removes the family's
#                                                settings and data (/etc/dnsfilter, /var/lib/dnsfilter)
#
# Needs only python3 (3.11 or newer). On Debian and Raspberry Pi OS the
# python3-venv package is installed when it is missing and we are root.
#
# install and uninstall read these variables:
#   DNSFILTER_ROOT     put everything under this folder instead of / (for tests and
#                      staging); the user, systemctl and the running service are then left alone
#   DNSFILTER_ADDRESS  the address to answer DNS and serve the web page on, in a new config
#                      (default: this box's address on the home network)
#   DNSFILTER_ROUTER   the router's address for local device names, in a new config
#                      (default: this box's default gateway)
#   PYTHON             the Python to build the service's environment with (default: /usr/bin/python3)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

mode=${1:-}
[ $# -gt 0 ] && shift

# The service runs the system's Python: one in a home folder (pyenv, a user's
# build) is hidden from it by ProtectHome=.
if [ "$mode" = install ] && [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then
    python=/usr/bin/python3
else
    python=${PYTHON:-python3}
fi

check_python() {
    command -v "$python" >/dev/null 2>&1 || {
        say "python3 was not found. Install it first (Debian/Raspberry Pi OS: sudo apt-get install python3)."
        exit 1
    }
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        say "dnsfilter needs Python 3.11 or newer; this is $("$python" --version 2>&1)."
        exit 1
    }
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

# --- install and uninstall ------------------------------------------------------

service_user=dnsfilter

set_paths() {
    root=${DNSFILTER_ROOT:-}
    root=${root%/}
    case "$root" in
        "" | /*) ;;
        *) say "DNSFILTER_ROOT must be an absolute path, not $root"; exit 2 ;;
    esac
    opt_dir="$root/opt/dnsfilter"
    service_venv="$opt_dir/venv"
    etc_dir="$root/etc/dnsfilter"
    config_file="$etc_dir/dnsfilter.yaml"
    data_dir="$root/var/lib/dnsfilter"
    command_link="$root/usr/local/bin/dnsfilter"
    unit_file="$root/etc/systemd/system/dnsfilter.service"
    # The user and the service are this machine's only when installing into /.
    if [ -z "$root" ]; then
        this_system=yes
        if [ "$(id -u)" != 0 ]; then
            say "installing a system service needs root: sudo ./bootstrap.sh $mode"
            exit 1
        fi
    else
        this_system=no
    fi
    if [ "$this_system" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        with_systemd=yes
    else
        with_systemd=no
    fi
}

user_exists() { [ "$this_system" = yes ] && getent passwd "$service_user" >/dev/null 2>&1; }

create_user() {
    if [ "$this_system" = no ]; then
        say "not creating the user $service_user (installing under $root)"
    elif user_exists; then
        say "the user $service_user exists already"
    else
        say "creating the system user $service_user (no login, no home)"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "dnsfilter DNS filter" "$service_user"
    fi
}

# Machine-specific builds (aiohttp, uvloop, PyYAML...) come as wheels for
# amd64, arm64 and, through piwheels on Raspberry Pi OS, armhf. Elsewhere pip
# compiles them, which needs a compiler and Python's headers.
explain_pip_failure() {
    say "pip could not install dnsfilter and its packages (its messages are above)."
    missing=""
    command -v cc >/dev/null 2>&1 || missing=" build-essential"
    "$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || missing="$missing python3-dev"
    if [ -n "$missing" ]; then
        say "A package has no ready-made build for this machine ($(uname -m)) and must be compiled, but this box"
        say "cannot compile: install the tools with  sudo apt-get install$missing"
        say "then run  sudo ./bootstrap.sh install  again."
    else
        say "Check that this box reaches the internet (pip downloads from pypi.org), then run it again."
    fi
    exit 1
}

install_program() {
    ensure_venv_support
    prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
    case "$prefix/" in
        /root/* | /home/* | /run/user/*)
            say "$python lives in $prefix, which the service cannot see (its home folders are hidden)."
            say "Use the system's Python: sudo PYTHON=/usr/bin/python3 ./bootstrap.sh install"
            exit 1
            ;;
    esac
    # Built from a copy: nothing is written into this folder, and the
    # installed program needs none of it afterwards.
    source_copy=$(mktemp -d)
    trap 'rm -rf "$source_copy"' EXIT
    tar -C "$here" -cf - \
        --exclude=./.git --exclude=./.venv --exclude=./venv --exclude=./data --exclude=./build \
        --exclude=./dist --exclude='*.egg-info' --exclude=__pycache__ --exclude='.*_cache' \
        --exclude=./.hypothesis --exclude=./tests --exclude=./benchmarks . \
        | tar -C "$source_copy" -xf -
    if [ ! -x "$service_venv/bin/python" ]; then
        say "creating $service_venv with $python ($("$python" --version 2>&1))"
        mkdir -p "$opt_dir"
        "$python" -m venv "$service_venv"
    fi
    say "installing dnsfilter and its packages into $service_venv (a few minutes on a Raspberry Pi)"
    "$service_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --prefer-binary --upgrade "$source_copy" || explain_pip_failure
    rm -rf "$source_copy"
    trap - EXIT
    if [ ! -e "$opt_dir/bootstrap.sh" ]; then  # not a checkout put there by hand
        cp "$here/README.md" "$opt_dir/README.md"
        chmod 0644 "$opt_dir/README.md"
    fi
    say "installed: $("$service_venv/bin/dnsfilter" --version)"
}

# This box's address on the home network and its router, from the route to
# the internet (nothing is sent).
detect_network() {
    route=$(ip -4 route get 1.1.1.1 2>/dev/null | head -n 1 || true)
    lan_address=${DNSFILTER_ADDRESS:-$(printf '%s\n' "$route" | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
    if [ -z "$lan_address" ]; then
        lan_address=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' | head -n 1 || true)
    fi
    router_address=${DNSFILTER_ROUTER:-$(printf '%s\n' "$route" | sed -n 's/.* via \([0-9.]*\).*/\1/p')}
}

# Change one line of the new config; false when the line is not there as expected.
config_line() {
    grep -q "^$1\$" "$config_file" || return 1
    sed -i "s|^$1\$|$2|" "$config_file"
}

install_config() {
    mkdir -p "$etc_dir"
    chmod 0755 "$etc_dir"
    if [ -e "$config_file" ]; then
        say "keeping the existing $config_file"
    else
        cp "$here/config/dnsfilter.yaml" "$config_file"
        detect_network
        if [ -n "$lan_address" ]; then
            config_line '    - 127.0.0.1:5300' "    - $lan_address:53   # this box, set at install: keep its address fixed in the router" \
                || say "could not set dns.listen in $config_file: set it yourself"
            config_line '  listen: 127.0.0.1:8080' "  listen: $lan_address:8080   # this box, set at install" \
                || say "could not set web.listen in $config_file: set it yourself"
        fi
        if [ -n "$router_address" ]; then
            config_line '  router: ~' "  router: $router_address   # set at install: this box's gateway" \
                || say "could not set local.router in $config_file: set it yourself"
        fi
        if [ -n "$root" ]; then
            config_line 'data_dir: /var/lib/dnsfilter' "data_dir: $data_dir"
        fi
        say "wrote $config_file"
    fi
    # Readable by the service (it may hold a database password), by nobody else.
    if user_exists; then
        chown "root:$service_user" "$config_file"
        chmod 0640 "$config_file"
    fi
    mkdir -p "$data_dir"
    chmod 0700 "$data_dir"
    if user_exists; then
        chown "$service_user:$service_user" "$data_dir"
    fi
}

install_unit() {
    mkdir -p "$(dirname "$unit_file")"
    if [ -n "$root" ]; then
        sed -e "s|/opt/dnsfilter/|$opt_dir/|g" -e "s|/etc/dnsfilter/|$etc_dir/|g" \
            "$here/systemd/dnsfilter.service" > "$unit_file"
    else
        cp "$here/systemd/dnsfilter.service" "$unit_file"
    fi
    chmod 0644 "$unit_file"
    mkdir -p "$(dirname "$command_link")"
    ln -sfn "$service_venv/bin/dnsfilter" "$command_link"
}

start_service() {
    if [ "$with_systemd" = yes ]; then
        systemctl daemon-reload
        systemctl enable --quiet dnsfilter
        systemctl restart dnsfilter
        if systemctl is-active --quiet dnsfilter; then
            say "the service is running"
            return 0
        fi
        say "the service did not start: see why with  journalctl -u dnsfilter -e"
        return 1
    fi
    if [ "$this_system" = yes ]; then
        say "systemd is not running here, so the service was not started. Start it by hand with:"
        say "  sudo setpriv --reuid=$service_user --regid=$service_user --init-groups \\"
        say "      --inh-caps=+net_bind_service --ambient-caps=+net_bind_service \\"
        say "      $service_venv/bin/dnsfilter run -c $config_file"
    else
        say "installed under $root: the user, systemctl and the service were left alone"
    fi
}

closing_words() {
    web=$(sed -n '/^web:/,/^[a-z]/s/^  listen: *\([^ #]*\).*/\1/p' "$config_file" | head -n 1)
    dns=$(sed -n '/^dns:/,/^[a-z]/s/^    - *\([^ #]*\).*/\1/p' "$config_file" | head -n 1)
    case "$web" in
        127.* | "") web="THIS-BOX-ADDRESS:8080" ;;
    esac
    case "$dns" in
        127.* | "[::1]"* | "")
            dns_step="Set dns.listen in $config_file to this box's address on port 53
     (for example 192.168.1.2:53) and web.listen to the same address on port
     8080, then  sudo systemctl restart dnsfilter" ;;
        *)
            dns_step="The filter answers DNS on $dns (dns.listen in $config_file)." ;;
    esac
    cat >&2 <<EOF

dnsfilter is installed.
  Program:   $service_venv (the command: $command_link)
  Settings:  $config_file (check them: sudo dnsfilter check-config)
  Data:      $data_dir (the family's rules and the query log)

Next:
  1. $dns_step
  2. Open the web page for parents from a phone or laptop at home:
     http://$web/
  3. Set its password there with the one-time setup code from the service's
     log:  sudo journalctl -u dnsfilter | grep "setup code"
     or here, without the page:  sudo dnsfilter passwd
  4. In the router, give this box a fixed address (DHCP reservation) and make
     it the DNS server the router hands out. Router by router: $here/docs/routers.md
  After changing the settings:  sudo systemctl restart dnsfilter
  To remove it:  sudo ./bootstrap.sh uninstall  (keeps the settings and the
  family's data; with --purge, removes them too)
EOF
}

install_service() {
    set_paths
    check_python
    create_user
    install_program
    install_config
    install_unit
    say "checking $config_file"
    "$service_venv/bin/dnsfilter" check-config -c "$config_file" >&2 \
        || say "the settings have mistakes (listed above): fix them, then  sudo systemctl restart dnsfilter"
    started=yes
    start_service || started=no
    closing_words
    [ "$started" = yes ]
}

uninstall_service() {
    purge=no
    for argument in "$@"; do
        case "$argument" in
            --purge) purge=yes ;;
            *) say "usage: sudo ./bootstrap.sh uninstall [--purge]"; exit 2 ;;
        esac
    done
    set_paths
    if [ "$with_systemd" = yes ]; then
        systemctl disable --now --quiet dnsfilter 2>/dev/null || true
    fi
    rm -f "$unit_file"
    if [ "$with_systemd" = yes ]; then
        systemctl daemon-reload
        systemctl reset-failed dnsfilter 2>/dev/null || true
    fi
    if [ -L "$command_link" ] && [ "$(readlink "$command_link")" = "$service_venv/bin/dnsfilter" ]; then
        rm -f "$command_link"
    fi
    rm -rf "$service_venv"
    [ -e "$opt_dir/bootstrap.sh" ] || rm -f "$opt_dir/README.md"
    rmdir "$opt_dir" 2>/dev/null || true
    say "removed the service, $service_venv and $command_link"
    if [ "$purge" = no ]; then
        say "kept the family's settings and data: $etc_dir and $data_dir (sudo ./bootstrap.sh uninstall --purge removes them)"
        return 0
    fi
    rm -rf "$etc_dir" "$data_dir"
    if [ "$this_system" = yes ]; then
        rm -rf /var/lib/private/dnsfilter  # left by an older unit with DynamicUser=
        if user_exists; then
            userdel "$service_user"
        fi
        if getent group "$service_user" >/dev/null 2>&1; then
            groupdel "$service_user"
        fi
        say "removed $etc_dir, $data_dir and the user $service_user"
    else
        say "removed $etc_dir and $data_dir"
    fi
}

# The linked (editable) install of this clone; setuptools' notice that the
# package's shipped folders are mapped is not for the person running it.
install_editable() {
    PYTHONWARNINGS=ignore "$venv/bin/python" -m pip install --quiet -e "$1"
}

case "$mode" in
    run)
        check_python
        make_venv
        say "installing dnsfilter into $venv"
        install_editable "$here"
        exec "$venv/bin/dnsfilter" run "$@"
        ;;
    test)
        check_python
        make_venv
        say "installing dnsfilter and its test tools into $venv"
        install_editable "${here}[test]"
        cd "$here"
        exec "$venv/bin/python" -m pytest "$@"
        ;;
    install)
        [ $# -eq 0 ] || { say "usage: sudo ./bootstrap.sh install"; exit 2; }
        install_service
        ;;
    uninstall)
        uninstall_service "$@"
        ;;
    *)
        say "usage: ./bootstrap.sh run [options] | ./bootstrap.sh test [pytest options]"
        say "       sudo ./bootstrap.sh install | sudo ./bootstrap.sh uninstall [--purge]"
        exit 2
        ;;
esac
