"""A test server that speaks the part of OPA's REST API that ``--engine opa`` uses.

This is not OPA. It evaluates with regorus and implements only the Data API
calls the ``opa`` engine makes, with OPA's response shapes:

- ``GET /v1/data/{path}``: ``{"result": value}``, or ``{}`` when undefined;
- ``POST /v1/data/{path}`` with ``{"input": ...}``: the same, evaluated with that input;
- errors as ``{"code": ..., "message": ...}``: 400 for a body that is not JSON,
  404 for any other endpoint, 500 for an evaluation error, 401 without the
  bearer token when one is required.

It loads policies and data from an OPA bundle (``.manifest``, ``*.rego``,
``data.json`` at the path it is loaded to) and rejects a bundle whose packages
or data lie outside the manifest's roots, as OPA does. A ``fault`` makes it
misbehave for failure tests. It binds to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import re
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import regorus

_PATH = re.compile(r"^/v1/data((?:/[A-Za-z_][A-Za-z0-9_]*)*)/?$")
_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)", re.MULTILINE)

# Fault names and what the server then does.
FAULTS = {
    "status-500": "answer every request with HTTP 500 and an OPA error body",
    "malformed-json": "answer HTTP 200 with a body that is not JSON",
    "slow": "wait `delay` seconds before answering",
    "undefined": "answer every request with {} (an undefined document)",
    "wrong-shape": "answer POST requests with a result that is a list",
}


def read_bundle(path: Path) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
    """Return the manifest, the policies and the merged data of a bundle tar.gz."""
    manifest: dict[str, Any] = {}
    policies: list[tuple[str, str]] = []
    data: dict[str, Any] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            stream = tar.extractfile(member)
            assert stream is not None
            content = stream.read().decode()
            name = member.name.removeprefix("/")
            if name == ".manifest":
                manifest = json.loads(content)
            elif name.endswith(".rego"):
                policies.append((name, content))
            elif name == "data.json" or name.endswith("/data.json"):
                _merge(data, [part for part in name.split("/")[:-1] if part], json.loads(content))
    _check_roots(manifest.get("roots", [""]), policies, data)
    return manifest, policies, data


def _merge(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for part in path:
        node = node.setdefault(part, {})
    if not isinstance(value, dict):
        raise ValueError(f"data.json at /{'/'.join(path)} is not a JSON object")
    for key, item in value.items():
        if key in node:
            raise ValueError(f"data conflict at /{'/'.join([*path, key])}")
        node[key] = item


def _check_roots(roots: list[str], policies: list[tuple[str, str]],
                 data: dict[str, Any]) -> None:
    def inside(path: str) -> bool:
        return any(root == "" or path == root or path.startswith(root + "/") for root in roots)

    for name, text in policies:
        match = _PACKAGE.search(text)
        package = match.group(1).replace(".", "/") if match else ""
        if not inside(package):
            raise ValueError(f"{name}: package path {package} is outside the roots {roots}")

    def leaves(node: Any, path: str) -> Iterator[str]:
        if isinstance(node, dict) and node and not inside(path):
            for key, item in node.items():
                yield from leaves(item, f"{path}/{key}".lstrip("/"))
        elif not inside(path):
            yield path

    for path in leaves(data, ""):
        raise ValueError(f"data at {path} is outside the roots {roots}")


def bundle_engine(policies: list[tuple[str, str]], data: dict[str, Any]) -> regorus.Engine:
    """Return a regorus engine holding a bundle's policies and data, as OPA would load them."""
    engine = regorus.Engine()
    for name, text in policies:
        engine.add_policy(name, text)
    engine.add_data_json(json.dumps(data))
    return engine


class OpaTestServer(ThreadingHTTPServer):
    """The server with its bundle, its fault settings and the requests it received."""

    daemon_threads = True

    def __init__(self, bundle: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        _, self.policies, self.data = read_bundle(bundle)
        self.fault: str | None = None
        # The HTTP method the fault applies to; None for every request.
        self.fault_method: str | None = None
        self.delay = 0.0
        self.token: str | None = None
        self.requests: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: OpaTestServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Keep the test output quiet."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._answer(with_input=False)

    def do_POST(self) -> None:  # noqa: N802
        self._answer(with_input=True)

    def do_PUT(self) -> None:  # noqa: N802
        self._send(404, {"code": "resource_not_found", "message": "this test server does not "
                                                                  "implement writes"})

    def _answer(self, *, with_input: bool) -> None:
        self.server.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.server.token is not None and (
                self.headers.get("Authorization") != f"Bearer {self.server.token}"):
            self._send(401, {"code": "unauthorized", "message": "missing or invalid "
                                                                "bearer token"})
            return
        if self._faulted(with_input):
            return

        match = _PATH.match(self.path.split("?", 1)[0])
        if match is None:
            self._send(404, {"code": "resource_not_found", "message": f"{self.path} not found"})
            return
        query = "data" + match.group(1).replace("/", ".")
        # A regorus engine may not move between threads, so each request builds its own.
        engine = bundle_engine(self.server.policies, self.server.data)
        if with_input and body:
            try:
                document = json.loads(body)
            except ValueError as exc:
                self._send(400, {"code": "invalid_parameter", "message": f"body: {exc}"})
                return
            if "input" in document:
                engine.set_input_json(json.dumps(document["input"]))
        try:
            result = json.loads(engine.eval_query_as_json(query))
        except RuntimeError as exc:
            message = str(exc).split("Stack backtrace:", 1)[0].strip()
            self._send(500, {"code": "internal_error", "message": message})
            return
        rows = result.get("result") or []
        if not rows:
            self._send(200, {})
            return
        self._send(200, {"result": rows[0]["expressions"][0]["value"]})

    def _faulted(self, with_input: bool) -> bool:
        fault = self.server.fault
        if self.server.fault_method not in (None, self.command):
            return False
        if fault == "slow":
            time.sleep(self.server.delay)
            return False
        if fault == "status-500":
            self._send(500, {"code": "internal_error", "message": "test fault"})
        elif fault == "malformed-json":
            self._send_raw(200, b'{"result": {"pool_vcpu_quota": ')
        elif fault == "undefined":
            self._send(200, {})
        elif fault == "wrong-shape" and with_input:
            self._send(200, {"result": ["not", "an", "object"]})
        else:
            return False
        return True

    def _send(self, status: int, document: Any) -> None:
        self._send_raw(status, json.dumps(document).encode())

    def _send_raw(self, status: int, content: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):
            # The client closed the connection first (a timeout test), so no response is sent.
            pass


@contextmanager
def opa_test_server(bundle: Path) -> Iterator[OpaTestServer]:
    """Serve a bundle on 127.0.0.1 at a free port until the block ends."""
    server = OpaTestServer(bundle)
    thread = threading.Thread(target=server.serve_forever, name="opa-test-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
