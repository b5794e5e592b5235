import importlib.util
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.dirname(HERE)
for p in (SDK, os.path.join(SDK, "examples"), HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

from server import Server  # noqa: E402

from sealtrail.verify import verify_entry  # noqa: E402


def need(module: str):
    """Skip a test whose framework is missing, except in CI (CI=true)."""
    if importlib.util.find_spec(module) is not None:
        return lambda f: f
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{module} is not installed (scripts/setup.sh installs it)")
    return unittest.skip(f"{module} is not installed (scripts/setup.sh installs it)")


class ServerCase(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.close)

    def spool(self) -> str:
        d = tempfile.mkdtemp(prefix="sealtrail-spool-test-")
        return d

    def check_linked(self, entries, session):
        """Every event: in `session`, its parent among the events, its body
        committed by its header; seq 1..n in log order."""
        ids = {e["event"]["id"] for e in entries}
        roots = 0
        for e in entries:
            ev = e["event"]
            self.assertEqual(ev.get("session"), session, ev)
            if ev.get("parent") is None:
                roots += 1
            else:
                self.assertIn(ev["parent"], ids, f"dangling parent in {ev}")
            verify_entry(e)
        self.assertEqual(roots, 1, "exactly one root event")
        self.assertEqual([e["event"]["seq"] for e in entries], list(range(1, len(entries) + 1)))
