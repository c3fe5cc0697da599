"""Fixtures that start the real `glimpse serve` on loopback and talk to it over HTTP."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GLIMPSE_BUILD_DIR", ROOT / "build" / "release"))
GLIMPSE = BUILD / "glimpse"
GOLDEN = ROOT / "tests" / "golden"
TINY_MODEL = GOLDEN / "models" / "tiny-a"
DEMO_MODEL = ROOT / "models" / "glimpse-demo"
ARTIFACTS = ROOT / "test-artifacts"


class Server:
    """A `glimpse serve` process on a free loopback port, killed when the test ends."""

    def __init__(self, *args, model=TINY_MODEL, env=None):
        cmd = [str(GLIMPSE), "serve", "--model", str(model), "--port", "0", "--threads", "2", *map(str, args)]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        self.log = []
        deadline = time.time() + 60
        self.url = None
        while time.time() < deadline and self.url is None:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"serving on (http://[\d.]+:\d+)", line)
            if m:
                self.url = m.group(1)
        assert self.url, "server did not start:\n" + "".join(self.log)
        while time.time() < deadline:
            if requests.get(self.url + "/ready", timeout=5).status_code == 200:
                return
            time.sleep(0.05)
        raise AssertionError("server never became ready")

    def post(self, path, body=None, **kw):
        return requests.post(self.url + path, json=body, timeout=120, **kw)

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=30, **kw)

    def metric(self, name, labels=""):
        text = self.get("/metrics").text
        m = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc.stderr.close()
        return rc


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
