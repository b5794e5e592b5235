"""A real `sealtrail serve` for the SDK tests.

The binary is $SEALTRAIL_BIN, else target/debug/sealtrail of the workspace
(`cargo build -p sealtrail-cli`)."""

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def binary() -> str:
    b = os.environ.get("SEALTRAIL_BIN") or os.path.join(ROOT, "target", "debug", "sealtrail")
    if not os.path.exists(b):
        raise RuntimeError(f"no sealtrail binary at {b}: run `cargo build -p sealtrail-cli` "
                           "or set SEALTRAIL_BIN")
    return b


class Server:
    def __init__(self, tls=None):
        """``tls``: (cert file, key file, CA file) to serve https:// with."""
        self.tls = tls
        self.tmp = tempfile.mkdtemp(prefix="sealtrail-sdk-test-")
        self.data = os.path.join(self.tmp, "data")
        out = subprocess.run([binary(), "init", "--data", self.data, "--json"],
                             check=True, capture_output=True, text=True).stdout
        info = json.loads(out)
        self.api_key, self.vkey, self.origin = info["owner_api_key"], info["vkey"], info["origin"]
        self.proc = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (again, on the same port after the first time)."""
        for attempt in range(50):
            self._log = open(os.path.join(self.tmp, "serve.log"), "a")
            tls = ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]] if self.tls else []
            self.proc = subprocess.Popen(
                [binary(), "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}",
                 "--checkpoint-interval", "1"] + tls,
                stdout=subprocess.PIPE, stderr=self._log, text=True)
            line = self.proc.stdout.readline()
            m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return
            self.proc.wait()
            self._log.close()
            time.sleep(0.1)  # the port may still be held for a moment
        raise RuntimeError(f"sealtrail serve did not start: {line!r}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def get(self, path: str, **params):
        q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        req = urllib.request.Request(f"{self.url}{path}?{q}",
                                     headers={"Authorization": f"Bearer {self.api_key}"})
        context = ssl.create_default_context(cafile=self.tls[2]) if self.tls else None
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            return json.loads(r.read())

    def events(self, **filters):
        """Every entry matching the filters, with bodies, oldest first."""
        out, cursor = [], None
        while True:
            page = self.get("/v1/events", include="body", limit=1000, cursor=cursor, **filters)
            out.extend(page["events"])
            cursor = page.get("next_cursor")
            if cursor is None:
                return out
