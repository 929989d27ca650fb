"""One builder of HTTP clients: a transport installed there is what notifiers and collectors use."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from tests.fixtures.receivers import http_receiver
from tests.ops.alerts.test_notifiers import SECRET, payload
from triadops import httpclient
from triadops.domain.clock import FakeClock, using
from triadops.ops.alerts.notifiers import WebhookNotifier
from triadops.ops.health import Reading, run_collectors
from triadops.ops.health.targets import HttpTargetCollector
from triadops.settings import WebhookChannel


class Recording(httpx.AsyncHTTPTransport):
    """httpx's own transport, over the network, keeping each request it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return await super().handle_async_request(request)


class SyncRecording(httpx.HTTPTransport):
    """The same, blocking (the CLI's remote client)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


async def test_a_webhook_goes_out_on_the_installed_transport_stamped_by_the_clock() -> None:
    recording, fake = Recording(), FakeClock()
    fake.advance(-120)  # two minutes behind: within the receiver's tolerance, yet not now
    async with http_receiver(SECRET) as receiver:
        channel = WebhookChannel(url=receiver.url(), secret=SecretStr(SECRET))
        with httpclient.using(recording), using(fake):
            await WebhookNotifier("hook", channel).send(payload())
    [request] = recording.sent
    assert (request.method, str(request.url)) == ("POST", receiver.url())
    [got] = receiver.accepted
    assert got.headers["x-triad-timestamp"] == str(int(fake.now().timestamp()))
    assert request.headers["x-triad-signature"] == got.headers["x-triad-signature"]


async def test_a_health_target_is_read_on_the_installed_transport() -> None:
    recording = Recording()
    async with http_receiver() as receiver:
        with httpclient.using(recording):
            (check,) = await run_collectors(
                [HttpTargetCollector("shop", receiver.url("/ok"), threshold_s=2.0)],
                Reading(now=FakeClock().now()),
                timeout_s=5,
            )
    [request] = recording.sent
    assert (request.method, str(request.url)) == ("GET", receiver.url("/ok"))
    assert check.detail is not None and check.detail.startswith("HTTP 405")


async def test_a_transport_given_wins_and_the_installed_one_ends_with_its_block() -> None:
    installed, given, after = Recording(), Recording(), Recording()
    async with http_receiver() as receiver:
        with httpclient.using(installed):
            async with httpclient.client(timeout=5, transport=given) as client:
                await client.post(receiver.url(), content=b"{}")
        async with httpclient.client(timeout=5, transport=after) as client:
            await client.post(receiver.url(), content=b"{}")
        sync = SyncRecording()
        with (
            httpclient.using(sync=sync),
            httpclient.sync_client(base_url=receiver.url(""), timeout=5) as blocking,
        ):
            answer = blocking.post("/remote", content=b"{}")
    assert (len(installed.sent), len(given.sent), len(after.sent)) == (0, 1, 1)
    assert [str(r.url) for r in sync.sent] == [receiver.url("/remote")]
    assert answer.status_code == 200
    assert [r.path for r in receiver.received] == ["/hook", "/hook", "/remote"]
