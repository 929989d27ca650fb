#!/usr/bin/env bash
# Maintain the application through a running triad server: the seed's application script.
#
# 1. the application-maintenance procedure (pull and restart through command actions, the
#    agents' health), one governed operation, waited for;
# 2. cache optimisation: POST /admin/cache/optimize (a cache_cleanup operation);
# 3. a new performance baseline: POST /performance/baseline (an operation too).
#
#   TRIAD_URL=http://127.0.0.1:8000 TRIAD_TOKEN=... scripts/maintain-application.sh
#
# TRIAD_APPLICATION_PROCEDURE names the procedure (default: application-maintenance);
# TRIAD_CLI names the command line (default: triad).
set -euo pipefail

: "${TRIAD_URL:?set TRIAD_URL to the triad server, such as http://127.0.0.1:8000}"
: "${TRIAD_TOKEN:?set TRIAD_TOKEN to a token holding the executive role}"
export TRIAD_URL TRIAD_TOKEN
procedure="${TRIAD_APPLICATION_PROCEDURE:-application-maintenance}"
read -r -a triad <<< "${TRIAD_CLI:-triad}"

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
