"""The CLI's HTTP client: each call of the API answered as the domain models the CLI renders.

The CLI never imports the API (an import-linter contract): the API's JSON is parsed here
into the domain's models (an operation, ledger entries, a verify report) or the CLI's own
views (`triadops.cli.views`), so one output code renders what either mode found. Every
error becomes the one line the local CLI would print: a problem body's ``detail``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from triadops import httpclient
from triadops.actions.procedures.views import ProcedureDetail, ProcedureLine
from triadops.cli.context import BadInput
from triadops.cli.hosts import Target, remote_target
from triadops.cli.views import (
    AgentCheckLine,
    AlertLine,
    AlertStory,
    CrownSwitch,
    SilenceLine,
)
from triadops.domain.checkpoints import Checkpoint
from triadops.domain.errors import Conflict, Forbidden, NotFound, TriadError, Unauthenticated
from triadops.domain.evidence import SUMMARY_FIELDS, SUMMARY_HEADER
from triadops.domain.health import HealthReport, HealthReportSummary
from triadops.domain.ledger import LedgerEntry, VerifyReport
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import Operation, OperationRequest, Plan, PlanningResult
from triadops.domain.runbooks import Incident, RunbookEntry
from triadops.domain.sops import SopDetail, SopEntry
from triadops.ops.agents_health import AgentsHealth

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""A slow server is an error after this, never a hang (submissions review before answering)."""
TROUBLESHOOT_WAIT_S = 120.0
"""How long the server waits for a troubleshooting run's resolution before answering."""
TROUBLESHOOT_TIMEOUT = httpx.Timeout(TROUBLESHOOT_WAIT_S + 600.0, connect=5.0)
"""The diagnosis (each diagnostic within its budget), an investigation, then the wait."""
AGENTS_CHECK_TIMEOUT = httpx.Timeout(3615.0, connect=5.0)
"""The server bounds an agents' check by ``agents.timeout_s`` (at most 3600 s) and a grace."""
EVIDENCE_TIMEOUT = httpx.Timeout(300.0, connect=5.0)
"""A bundle holds every entry from the operation's submission to a signed head: an old
operation's can be long."""
MAX_SILENCES = 500
"""The most silences ``GET /silences`` lists at once."""
MAX_ENTRIES = 1000
"""The most ledger entries ``GET /audit/log`` gives at once."""
_ENTRIES: TypeAdapter[list[LedgerEntry]] = TypeAdapter(list[LedgerEntry])
_ERRORS: dict[int, type[TriadError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


class Answer(BaseModel):
    """An operation as the API answers it: the operation and its ledger timeline."""

    operation: Operation
    timeline: list[LedgerEntry]
    extra: dict[str, Any]
    """The answer's other fields (such as a cancel's word on the running step)."""


class Remote:
    """A server the CLI speaks to, with the token it speaks with."""

    def __init__(self, target: Target, *, transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        self.http = httpclient.sync_client(
            base_url=target.url,
            headers={
                "Authorization": f"Bearer {target.token}",
                "User-Agent": f"triad-cli/{version('triadops')}",
            },
            timeout=TIMEOUT,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def call(self, method: str, path: str, *, timeout: httpx.Timeout = TIMEOUT, **kw: Any) -> Any:
        """Send one request; return its JSON, or raise the error its problem body names."""
        try:
            response = self.http.request(method, path, timeout=timeout, **kw)
        except httpx.TimeoutException:
            raise TriadError(
                f"{self.target.url} did not answer within {timeout.read:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise TriadError(
                f"cannot reach {self.target.url}: {exc or type(exc).__name__}"
            ) from None
        if response.is_success:
            return response.json()
        raise _error(self.target.url, response)

    def check(self) -> None:
        """Ask the server something every valid token may read: a bad token raises."""
        self.call("GET", "/crown")

    # Operations.

    def submit(self, request: OperationRequest) -> Answer:
        """Submit an operation as the token's principal; its answer as stored."""
        body = request.model_dump(mode="json", exclude={"requested_by"})
        return _answer(self.call("POST", "/operations", json=body))

    def preview(self, request: OperationRequest) -> tuple[Plan, PlanningResult]:
        """Plan and decide a request without storing it."""
        body = request.model_dump(mode="json", exclude={"requested_by"})
        found = self.call("POST", "/operations", params={"dry_run": "true"}, json=body)
        return Plan.model_validate(found["plan"]), PlanningResult.model_validate(
            found["planning_result"]
        )

    def operations(
        self,
        *,
        statuses: list[str],
        types: list[str],
        since: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[OperationSummary], str | None]:
        """Return a page of operations and the cursor after it (None when not full)."""
        params: dict[str, Any] = {"limit": limit, "status": statuses, "operation_type": types}
        if since is not None:
            params["since"] = since
        if cursor is not None:
            params["cursor"] = cursor
        page = self.call("GET", "/operations", params=params)
        items = [OperationSummary.model_validate(item) for item in page["items"]]
        return items, page.get("next_cursor")

    def operation(self, operation_id: str) -> Answer:
        """Read one operation in full, with its timeline."""
        return _answer(self.call("GET", f"/operations/{_segment(operation_id)}"))

    def decide(self, operation_id: str, verb: str, body: dict[str, Any] | None = None) -> Answer:
        """Post a decision (approve, reject, cancel, acknowledge, resolve); the operation after."""
        path = f"/operations/{_segment(operation_id)}/{verb}"
        return _answer(self.call("POST", path, json=body))

    def amend(self, operation_id: str, body: dict[str, Any]) -> Answer:
        """Replace the steps of a plan that has not started; the operation after."""
        return _answer(self.call("PUT", f"/operations/{_segment(operation_id)}/steps", json=body))

    def frozen(self) -> bool:
        """True while the crown holds all forward work."""
        return bool(self.call("GET", "/crown")["frozen"])

    def freeze(self, reason: str) -> CrownSwitch:
        """Hold all forward work, as the token's principal (the crown's)."""
        return CrownSwitch.of(self.call("POST", "/crown/freeze", json={"reason": reason}))

    def unfreeze(self) -> CrownSwitch:
        """Lift the freeze, as the token's principal (the crown's)."""
        return CrownSwitch.of(self.call("POST", "/crown/unfreeze"))

    # Health and the agents.

    def health(self) -> HealthReport:
        """Return the server's health: its newest stored report, or one checked now."""
        return HealthReport.model_validate(self.call("GET", "/constitutional-health"))

    def health_history(self, *, limit: int, before: int | None) -> list[HealthReportSummary]:
        """Return stored reports' headlines, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        found = self.call("GET", "/constitutional-health/history", params=params)
        return [HealthReportSummary.model_validate(item) for item in found["items"]]

    def agents_check(self) -> list[AgentCheckLine]:
        """Hold the server's agents to their contracts now, where the model keys live."""
        found = self.call("POST", "/agents/check", timeout=AGENTS_CHECK_TIMEOUT)
        return [AgentCheckLine.model_validate(item) for item in found["agents"]]

    # Alerts.

    def alerts(self, *, states: list[str], severities: list[str], limit: int) -> list[AlertLine]:
        """Return alerts, newest first."""
        params = {"state": states, "severity": severities, "limit": limit}
        page = self.call("GET", "/alerts", params=params)
        return [AlertLine.model_validate(item) for item in page["items"]]

    def alert_story(self, alert_id: int) -> AlertStory:
        """Read one alert with its group's deliveries and its ledger entries."""
        return AlertStory.model_validate(self.call("GET", f"/alerts/{alert_id}"))

    def alert(self, alert_id: int, verb: str, body: dict[str, Any] | None = None) -> AlertLine:
        """Acknowledge or resolve an alert; the alert after."""
        return AlertLine.model_validate(self.call("POST", f"/alerts/{alert_id}/{verb}", json=body))

    def silences(self, *, active: bool, limit: int) -> list[SilenceLine]:
        """Return silences in force (or all), newest first."""
        if limit > MAX_SILENCES:
            raise BadInput(f"--limit: the server lists at most {MAX_SILENCES} silences at once")
        params = {"active": "true" if active else "false", "limit": limit}
        found = self.call("GET", "/silences", params=params)
        return [SilenceLine.model_validate(item) for item in found["items"]]

    def silence(self, body: dict[str, Any]) -> SilenceLine:
        """Add a silence; the silence as stored."""
        return SilenceLine.model_validate(self.call("POST", "/silences", json=body))

    def expire_silence(self, silence_id: str) -> SilenceLine:
        """End a silence now; the silence after."""
        path = f"/silences/{_segment(silence_id)}/expire"
        return SilenceLine.model_validate(self.call("POST", path))

    def agents_health(self) -> AgentsHealth:
        """Return the server's agents: their models and their recorded calls."""
        return AgentsHealth.model_validate(self.call("GET", "/agents/health"))

    # The procedure catalogue.

    def procedures(self) -> list[ProcedureLine]:
        """Return the procedures the server loaded, by name."""
        found = self.call("GET", "/procedures")
        return [ProcedureLine.model_validate(item) for item in found["items"]]

    def procedure(self, name: str) -> ProcedureDetail:
        """Return one procedure in full, as the server loaded it."""
        return ProcedureDetail.model_validate(self.call("GET", f"/procedures/{_segment(name)}"))

    # Standard operating procedures.

    def sops(self) -> list[SopEntry]:
        """Return the SOPs in force on the server."""
        return [SopEntry.model_validate(item) for item in self.call("GET", "/sops")["items"]]

    def sop(self, name: str, *, limit: int) -> SopDetail:
        """Read one SOP with the reviews it has due."""
        found = self.call("GET", f"/sops/{_segment(name)}", params={"limit": limit})
        return SopDetail.model_validate(found)

    def runbooks(self) -> list[RunbookEntry]:
        """Return the runbooks in force on the server."""
        found = self.call("GET", "/runbooks")["items"]
        return [RunbookEntry.model_validate(item) for item in found]

    def runbook(self, name: str) -> RunbookEntry:
        """Read one runbook."""
        return RunbookEntry.model_validate(self.call("GET", f"/runbooks/{_segment(name)}"))

    def troubleshoot(
        self,
        name: str,
        *,
        resolve: bool,
        resolution: str | None,
        investigate: bool = False,
        submit_proposal: bool = False,
    ) -> Incident:
        """Run a runbook on the server; its worker drives the resolution."""
        body: dict[str, Any] = {
            "resolve": resolve,
            "resolution": resolution,
            "wait_s": TROUBLESHOOT_WAIT_S,
        }
        if investigate:
            body["investigate"] = True
        if submit_proposal:
            body["submit_proposal"] = True
        path = f"/runbooks/{_segment(name)}/troubleshoot"
        found = self.call("POST", path, json=body, timeout=TROUBLESHOOT_TIMEOUT)
        return Incident.model_validate(found)

    def incidents(self, *, limit: int) -> list[Incident]:
        """Return the newest incident reports first."""
        found = self.call("GET", "/incidents", params={"limit": limit})["items"]
        return [Incident.model_validate(item) for item in found]

    def incident(self, incident_id: str) -> Incident:
        """Read one incident report."""
        return Incident.model_validate(self.call("GET", f"/incidents/{_segment(incident_id)}"))

    # The crown's ledger.

    def entries(self, *, operation_id: str | None, limit: int) -> list[LedgerEntry]:
        """Return the newest ledger entries (of one operation), oldest first."""
        if limit > MAX_ENTRIES:
            raise BadInput(f"--limit: the server gives at most {MAX_ENTRIES} entries at once")
        params: dict[str, Any] = {"limit": limit}
        if operation_id is not None:
            params["operation_id"] = operation_id
        return _ENTRIES.validate_python(self.call("GET", "/audit/log", params=params)["items"])

    def verify(self) -> VerifyReport:
        """Replay the ledger on the server."""
        return VerifyReport.model_validate(self.call("GET", "/audit/verify"))

    @contextmanager
    def evidence(self, operation_id: str) -> Iterator[tuple[dict[str, Any], Iterator[bytes]]]:
        """Stream an operation's evidence bundle from the server (a viewer's read).

        Yields the bundle's summary (the server's header) and its body's bytes, never parsed
        here: a long segment is passed on as it comes.
        """
        path = f"/operations/{_segment(operation_id)}/evidence"
        try:
            with self.http.stream("GET", path, timeout=EVIDENCE_TIMEOUT) as response:
                if not response.is_success:
                    response.read()
                    raise _error(self.target.url, response)
                try:
                    summary = dict(json.loads(response.headers[SUMMARY_HEADER]))
                    missing = SUMMARY_FIELDS - summary.keys()
                except (KeyError, ValueError, TypeError):
                    raise TriadError("the server's answer is not a bundle (no summary)") from None
                if missing:
                    named = ", ".join(sorted(missing))
                    raise TriadError(f"the server's bundle summary lacks {named}")
                yield summary, response.iter_bytes()
        except httpx.TimeoutException:
            raise TriadError(
                f"{self.target.url} did not answer within {EVIDENCE_TIMEOUT.read:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise TriadError(
                f"cannot reach {self.target.url}: {exc or type(exc).__name__}"
            ) from None

    def checkpoint(self) -> tuple[Checkpoint, str]:
        """Have the server sign the ledger's head; the checkpoint and the server's log path."""
        found = dict(self.call("POST", "/audit/checkpoint"))
        log = str(found.pop("log", "?"))
        return Checkpoint.model_validate(found), log


def _segment(value: str) -> str:
    """Quote a path segment (an id with a slash must not reach another route)."""
    return quote(value, safe="")


def _answer(data: Any) -> Answer:
    try:
        operation = Operation.model_validate(data)
        timeline = _ENTRIES.validate_python(data.get("timeline", []))
    except ValidationError as exc:
        raise TriadError(f"the server's answer is not an operation: {exc.errors()[0]}") from None
    known = set(Operation.model_fields) | {"timeline"}
    return Answer(
        operation=operation,
        timeline=timeline,
        extra={k: v for k, v in data.items() if k not in known},
    )


def _error(url: str, response: httpx.Response) -> Exception:
    """Return the error a failed answer stands for, worded from its problem body."""
    try:
        problem = response.json()
        detail = str(problem.get("detail") or problem.get("title"))
        field = problem.get("field")
    except (ValueError, AttributeError):
        detail, field = response.reason_phrase or "no reason given", None
    if response.status_code == 401:
        return Unauthenticated(f"{url} refused the token (401): {detail}")
    if response.status_code == 422:
        return BadInput(f"{field}: {detail}" if field and field not in detail else detail)
    kind = _ERRORS.get(response.status_code, TriadError)
    return kind(
        detail if response.status_code in _ERRORS else f"{url}: {response.status_code} {detail}"
    )


def remote() -> Remote | None:
    """Return the client of the configured server, or None to work on the database."""
    target = remote_target()
    return None if target is None else Remote(target)
