#!/usr/bin/env bash
# Maintain the application through a running triad server: the seed's application script.
#
# `triad maintain application` asks the server what its [maintenance.application] declares
# and submits it in the token's name, as one governed operation, and waits for it:
#   1. the pull and restart commands (when the server declares them);
#   2. cache optimisation (cache.cleanup);
#   3. the performance compared with the baseline (performance.analysis), then a new
#      baseline (performance.baseline);
# judged by the agents' health (agents_healthy) and the performance before and after.
#
#   TRIAD_URL=http://127.0.0.1:8000 TRIAD_TOKEN=... scripts/maintain-application.sh [--json]
#
# Extra arguments go to `triad maintain application` (--json, --dry-run). TRIAD_CLI names
# the command line (default: triad). With TRIAD_APPLICATION_PROCEDURE set, the named
# procedure runs instead, then POST /admin/cache/optimize and POST /performance/baseline.
set -euo pipefail

: "${TRIAD_URL:?set TRIAD_URL to the triad server, such as http://127.0.0.1:8000}"
: "${TRIAD_TOKEN:?set TRIAD_TOKEN to a token holding the executive role}"
export TRIAD_URL TRIAD_TOKEN
read -r -a triad <<< "${TRIAD_CLI:-triad}"

procedure="${TRIAD_APPLICATION_PROCEDURE:-}"
if [[ -z "$procedure" ]]; then
    exec "${triad[@]}" maintain application --wait "$@"
fi

if ! "${triad[@]}" procedures show "$procedure" --json > /dev/null 2>&1; then
    echo "maintain-application.sh: the server at $TRIAD_URL has no procedure '$procedure'" \
        "(add it, or name another with TRIAD_APPLICATION_PROCEDURE)" >&2
    exit 1
fi
"${triad[@]}" ops submit --procedure "$procedure" --wait

post() {
    curl --fail-with-body --silent --show-error --max-time 30 -X POST \
        -H "Authorization: Bearer $TRIAD_TOKEN" "$TRIAD_URL$1"
    echo
}
post /admin/cache/optimize
post /performance/baseline
