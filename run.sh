#!/usr/bin/env bash
# The two commands of the quick start:
#   ./run.sh demo    start a throw-away homeserver, IRC server and IRC bridge to talk through
#   ./run.sh test    lint, type-check and run the whole test suite against real servers
# Each one installs what it needs first: Debian packages (when missing), a virtualenv in
# .venv and the Python dependencies. Set BRIDGEKIT_VENV to use another virtualenv.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${BRIDGEKIT_VENV:-.venv}
PY=${BRIDGEKIT_PYTHON:-}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root to run: $* (install it by hand, or run as root)"; return 1
    fi
}

apt_updated=0
apt_install() {
    command -v apt-get >/dev/null || { say "no apt-get: install $* by hand"; return 1; }
    if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_debian_packages() {
    local missing=()
    [ -x /usr/sbin/inspircd ] || command -v inspircd >/dev/null || missing+=(inspircd)
    if [ "${1:-}" = test ] && ! command -v pg_ctlcluster >/dev/null && ! command -v pg_ctl >/dev/null; then
        missing+=(postgresql)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        apt_install "${missing[@]}"
    fi
}

ensure_postgres() {
    command -v pg_isready >/dev/null || return 0
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        say "starting PostgreSQL"
        as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    fi
}

pick_python() {
    if [ -n "$PY" ]; then echo "$PY"; return; fi
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    say "Python 3.11 or newer is required"; exit 1
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        local py; py=$(pick_python)
        say "creating virtualenv $VENV with $py"
        "$py" -m venv "$VENV" || { apt_install python3-venv && "$py" -m venv "$VENV"; }
    fi
    local stamp="$VENV/.bridgekit-installed" want
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing Python dependencies into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[all,test]'
        echo "$want" >"$stamp"
    fi
}

cmd=${1:-}
shift || true
case "$cmd" in
test)
    ensure_debian_packages test
    ensure_postgres
    ensure_venv
    say "ruff"
    "$VENV/bin/ruff" check bridgekit bridges tests
    say "mypy"
    "$VENV/bin/mypy" bridgekit bridges
    say "pytest"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
demo)
    ensure_debian_packages demo
    ensure_venv
    exec "$VENV/bin/python" -m bridges.irc.demo "$@"
    ;;
*)
    echo "usage: ./run.sh demo [--check]   |   ./run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
