#!/bin/sh
# The entrypoint of every bridgekit bridge image (bridges/<network>/Dockerfile).
#
# It walks the operator through the first start, one step per start, in the data
# directory (/data, or $BRIDGEKIT_DATA):
#   1. no config.yaml: write the example config, say what to fill in, exit 0;
#   2. config.yaml but no registration.yaml: generate the registration (and the tokens
#      in the config), say how to give it to the homeserver, exit 0;
#   3. both: run the bridge, as this process, so it gets the container's stop signal.
# Arguments given to the container are passed to the bridge in step 3.
#
# Environment:
#   BRIDGEKIT_NETWORK   the bridge to run: python -m bridges.$BRIDGEKIT_NETWORK
#   BRIDGEKIT_COMMAND   the whole command instead (split on spaces), for a plugin:
#                       "python -m bridgekit.cli --network minichat"
#   BRIDGEKIT_PYTHON    the Python interpreter (default: python)
#   BRIDGEKIT_DATA      the data directory (default: /data)
#   BRIDGEKIT__<SECTION>__<KEY>=value   overrides one config value (docs/install.md)
set -eu

DATA=${BRIDGEKIT_DATA:-/data}
PYTHON=${BRIDGEKIT_PYTHON:-python}
CONFIG="$DATA/config.yaml"
REGISTRATION="$DATA/registration.yaml"

say() { printf '%s\n' "$*"; }
fail() { printf 'bridgekit: %s\n' "$*" >&2; exit 1; }

if [ -n "${BRIDGEKIT_COMMAND:-}" ]; then
    COMMAND=$BRIDGEKIT_COMMAND
elif [ -n "${BRIDGEKIT_NETWORK:-}" ]; then
    COMMAND="$PYTHON -m bridges.$BRIDGEKIT_NETWORK"
else
    fail "set BRIDGEKIT_NETWORK (irc, telegram, discord) or BRIDGEKIT_COMMAND."
fi

[ -d "$DATA" ] || fail "the data directory $DATA does not exist: mount a volume there."
if [ ! -w "$DATA" ]; then
    fail "cannot write to $DATA as user $(id -u):$(id -g). Give it to that user on the \
host, e.g. sudo chown -R $(id -u):$(id -g) ./data/<bridge>"
fi
cd "$DATA"
# The config and the database hold the tokens (and E2EE keys): readable by us only.
umask 077
# The bridge command is deliberately split on spaces; file names are never globbed.
set -f

# Names (never values: they may hold passwords) of the config overrides in effect.
overrides() {
    env | sed -n 's/^\(BRIDGEKIT__[A-Za-z0-9_]*\)=.*/\1/p' | sort | tr '\n' ' '
}

if [ ! -f "$CONFIG" ]; then
    # shellcheck disable=SC2086
    $COMMAND -c "$CONFIG"
    say ""
    say "Step 1 of 3 done: wrote $CONFIG."
    say "Edit it: homeserver.address, homeserver.domain, appservice.address and"
    say "bridge.permissions (the comments in the file explain them; values set from the"
    say "environment need no edit), then start this container again to generate"
    say "registration.yaml."
    set -- $(overrides)
    if [ $# -gt 0 ]; then
        say "These values come from the environment and override the file: $*"
    fi
    exit 0
fi

if [ ! -f "$REGISTRATION" ]; then
    # Refuse to generate a registration for the example's server name: the homeserver
    # would accept it, and then no user of the real server could reach the bridge.
    "$PYTHON" - "$CONFIG" <<'EOF'
import os
import sys
from pathlib import Path

from bridgekit.config import Config

config = Config.from_text(Path(sys.argv[1]).read_text())
config.apply_env(os.environ)
if config.get("homeserver.domain") in (None, "", "example.org"):
    sys.exit(
        f"bridgekit: homeserver.domain in {sys.argv[1]} is still the example's "
        "(example.org). Set it to your homeserver's server name (the part after the "
        "colon in your user ID), then start the container again."
    )
address = str(config.get("appservice.address") or "")
if "//127.0.0.1" in address or "//localhost" in address:
    print(
        f"Warning: appservice.address is {address}. A homeserver in another container "
        "cannot reach that; use the bridge's host name on the shared network, e.g. "
        "http://irc:29300 (BRIDGEKIT__APPSERVICE__ADDRESS)."
    )
EOF
    # shellcheck disable=SC2086
    $COMMAND -c "$CONFIG" -g -r "$REGISTRATION"
    # The homeserver runs as another user and must read this file (the same tokens
    # are in config.yaml, which stays private).
    chmod 0644 "$REGISTRATION"
    say ""
    say "Step 2 of 3 done: wrote $REGISTRATION (and its tokens into config.yaml)."
    say "Give it to the homeserver: list it in app_service_config_files in"
    say "homeserver.yaml and restart the homeserver (docs/synapse.md). Then start this"
    say "container again to run the bridge. To make new tokens later, delete"
    say "registration.yaml and start the container once."
    exit 0
fi

# shellcheck disable=SC2086
exec $COMMAND -c "$CONFIG" "$@"
