#!/usr/bin/env bash
# Maintain a database through a running triad server, as one governed operation.
#
# The seed's script (VACUUM ANALYZE; REINDEX DATABASE; a statistics reset) done right:
# `triad maintain database` submits it in the token's name, the server's four branches
# review, run and validate it, and this waits, showing the current step.
#
#   TRIAD_URL=http://127.0.0.1:8000 TRIAD_TOKEN=... scripts/maintain-database.sh [--target NAME]
#
# Extra arguments go to `triad maintain database` (--target, --reset-stats,
# --skip-retention, --retention-table, --json). TRIAD_CLI names the command line
# (default: triad). Exit 0: completed, or waiting on an approval or a window.
set -euo pipefail

: "${TRIAD_URL:?set TRIAD_URL to the triad server, such as http://127.0.0.1:8000}"
: "${TRIAD_TOKEN:?set TRIAD_TOKEN to a token holding the executive role}"
export TRIAD_URL TRIAD_TOKEN

read -r -a triad <<< "${TRIAD_CLI:-triad}"
exec "${triad[@]}" maintain database --wait "$@"
