"""A loopback S3 server for the tests: moto's server mode (``moto[server]``).

``moto_s3`` (session-scoped) starts ``moto_server`` from the venv of
``sys.executable`` on 127.0.0.1 and a free port, waits (bounded) until it
answers, yields a :class:`MotoS3` and stops the server at the session's end.
Moto keeps everything in memory and does not check signatures (any key
works), but it does enforce ``If-Match`` / ``If-None-Match`` (412), which
Icechunk's commits and geocube's claims rely on.

Requests here are plain HTTP through urllib (never a proxy) with a dummy
signature:

- ``moto_s3.bucket()``: a fresh, uniquely named bucket (one per test);
- ``moto_s3.put(bucket, key, body)``, ``moto_s3.list(bucket, prefix)``
  (ListObjectsV2, every page).

A test module uses it with ``from _moto import moto_s3  # noqa: F401`` (the
import registers the fixture).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

# Credentials the tests put in the environment (moto accepts any).
ACCESS_KEY_ID = "geocube-test"
SECRET_ACCESS_KEY = "geocube-test-secret"
REGION = "us-east-1"
_TEST_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}


def moto_server_bin() -> Path:
    """``moto_server`` next to the running interpreter (the same venv)."""
    exe = Path(sys.executable)
    for name in ("moto_server", "moto_server.exe"):
        p = exe.with_name(name)
        if p.is_file():
            return p
    raise FileNotFoundError(f"no moto_server beside {exe}: pip install 'moto[server]'")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(method: str, url: str, body: bytes | None = None, timeout: float = 10.0) -> bytes:
    # Moto checks no signature but treats a request without one as
    # anonymous (403 on a private bucket's objects): send a dummy one.
    headers = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/s3/aws4_request, "
        "SignedHeaders=host, Signature=0",
        # urllib's default form type for a body makes moto store it empty.
        "Content-Type": "application/octet-stream",
    }
    req = urllib.request.Request(url, method=method, data=body, headers=headers)
    with _OPENER.open(req, timeout=timeout) as resp:
        return resp.read()


@dataclass
class MotoS3:
    """A running moto server."""

    endpoint: str  # http://127.0.0.1:PORT
    process: subprocess.Popen
    log: Path

    def bucket(self, name: str | None = None) -> str:
        """Creates a bucket (a fresh unique name unless given) and returns its name."""
        name = name or f"geocube-{uuid.uuid4().hex[:12]}"
        _request("PUT", f"{self.endpoint}/{name}")
        return name

    def put(self, bucket: str, key: str, body: bytes = b"") -> None:
        """PutObject."""
        _request("PUT", f"{self.endpoint}/{bucket}/{urllib.parse.quote(key)}", body)

    def get(self, bucket: str, key: str) -> bytes:
        """GetObject."""
        return _request("GET", f"{self.endpoint}/{bucket}/{urllib.parse.quote(key)}")

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """The keys under ``prefix`` (ListObjectsV2, all pages)."""
        keys: list[str] = []
        token = None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            root = ET.fromstring(_request("GET", f"{self.endpoint}/{bucket}?{urllib.parse.urlencode(q)}"))
            keys += [k.text or "" for k in root.iter(f"{_S3_NS}Key")]
            truncated = root.findtext(f"{_S3_NS}IsTruncated") == "true"
            token = root.findtext(f"{_S3_NS}NextContinuationToken")
            if not truncated or not token:
                return keys

    def alive(self) -> bool:
        try:
            _request("GET", self.endpoint + "/", timeout=2)
            return True
        except urllib.error.HTTPError:
            return True  # it answered
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_moto(log_dir: Path, timeout: float = 60.0) -> MotoS3:
    """Starts moto_server on a free port of 127.0.0.1 and waits until it
    answers (at most ``timeout`` seconds; a port taken between choosing and
    binding it is retried on another)."""
    moto_server_bin()  # moto[server] is installed in this venv
    # moto's server behind one lock (crates/geocube-testkit/src/moto_server.py):
    # plain moto_server checks If-None-Match / If-Match and then stores the
    # object without a lock, so two racing conditional PUTs can both win.
    wrapper = Path(__file__).resolve().parents[2] / "geocube-testkit" / "src" / "moto_server.py"
    last = ""
    for attempt in range(3):
        port = _free_port()
        log = log_dir / f"moto-{port}.log"
        out = log.open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(wrapper), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        server = MotoS3(endpoint=f"http://127.0.0.1:{port}", process=proc, log=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if server.alive():
                return server
            time.sleep(0.1)
        server.stop()
        last = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"moto_server did not answer within {timeout:.0f} s (3 attempts); its log:\n{last}")


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory) -> MotoS3:
    """The session's moto server; the standard AWS credential variables are
    set to test values for this process and whatever it spawns (moto
    accepts any key), and restored at the end."""
    saved = {k: os.environ.get(k) for k in _TEST_ENV}
    os.environ.update(_TEST_ENV)  # never a real key sent to the loopback server
    server = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
