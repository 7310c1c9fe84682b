"""The API client under transient answers: reads retried where they are sent (a 429 after its
Retry-After, a 5xx, a dropped connection) and when their answer was cut short, writes not, and
no request without a timeout. The server is a plain HTTP one on 127.0.0.1 that answers from a
script."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import retry
from bootstrap.errors import TemporaryError
from bootstrap.kube import client as kube_client
from bootstrap.kube.client import Kube

VERSION = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.1",
    "gitCommit": "0",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.26",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class Script:
    """What the server answers, one entry per request: a status (with Retry-After: 0 for a
    429), "drop" to close the connection unanswered, or 200 with ``VERSION``."""

    def __init__(self, *answers: int | str) -> None:
        self.answers = list(answers)
        self.seen: list[str] = []
        self.agents: list[str] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def answer(self) -> None:
            script.seen.append(f"{self.command} {self.path}")
            script.agents.append(self.headers.get("User-Agent", ""))
            step = script.answers.pop(0) if script.answers else 200
            if step == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if step == "short":  # headers, then the body cut off
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Length", "400")
                self.end_headers()
                self.wfile.write(b'{"major": "1"')
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = json.dumps(VERSION if step == 200 else {"message": f"status {step}"})
            self.send_response(int(step))
            if step == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        do_GET = answer
        do_PATCH = answer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Kube]:
    """``Kube.connect`` through a kubeconfig, with the retry policy's pauses taken out."""
    quick = kube_client.READ_RETRIES.new(backoff_factor=0)
    monkeypatch.setattr(kube_client, "READ_RETRIES", quick)
    monkeypatch.setitem(retry.POLICIES, "api-read", retry.Policy("api-read", 3, 0.0, 0.0))

    def made(url: str) -> Kube:
        path = tmp_path / "kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": url}}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "c",
                }
            )
        )
        return Kube.connect(path, request_timeout=5)

    return made


def test_a_read_is_retried_after_429_503_and_a_dropped_connection(
    server: tuple[str, Script], connect: Callable[[str], Kube]
) -> None:
    url, script = server
    script.answers = [429, 503, "drop", 500]

    assert connect(url).server_version() == "v1.36.1"
    assert script.seen == ["GET /version/"] * 5
    assert {a.split("/")[0] for a in script.agents} == {"clusterboot"}  # it names itself


def test_a_read_that_keeps_failing_gives_up_with_the_status_as_a_temporary_error(
    server: tuple[str, Script], connect: Callable[[str], Kube]
) -> None:
    url, script = server
    script.answers = [503] * 10

    with pytest.raises(TemporaryError, match="version: 503"):
        connect(url).server_version()
    assert len(script.seen) == 5  # the first try and four retries: bounded


def test_a_read_whose_answer_is_cut_short_is_tried_again_then_gives_up_as_temporary(
    server: tuple[str, Script], connect: Callable[[str], Kube]
) -> None:
    url, script = server
    script.answers = ["short", 200]
    kube = connect(url)

    assert kube.server_version() == "v1.36.1"

    script.answers = ["short"] * 3
    with pytest.raises(TemporaryError, match="version: API server unreachable"):
        kube.server_version()
    assert len(script.seen) == 2 + 3


def test_a_write_is_not_retried_where_it_is_sent(
    server: tuple[str, Script], connect: Callable[[str], Kube]
) -> None:
    url, script = server
    script.answers = [503, 200]
    kube = connect(url)

    answer = kube.api.call_api("PATCH", f"{url}/api/v1/namespaces/x", body={})

    assert answer.status == 503
    assert script.seen == ["PATCH /api/v1/namespaces/x"]


def test_every_request_gets_a_timeout_even_when_its_caller_gives_none() -> None:
    class Rest:
        def __init__(self) -> None:
            self.timeouts: list[Any] = []

        def request(self, method: str, url: str, **kwargs: Any) -> None:
            self.timeouts.append(kwargs.get("_request_timeout"))

    class Api:
        rest_client = Rest()

    api = Api()
    Kube(api, request_timeout=7)  # type: ignore[arg-type]
    Kube(api, request_timeout=9)  # type: ignore[arg-type]  # (wrapped once, not twice)
    api.rest_client.request("GET", "/apis")
    api.rest_client.request("GET", "/watch", _request_timeout=(5, 70))

    assert api.rest_client.timeouts == [7, (5, 70)]
