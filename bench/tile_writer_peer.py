"""The peer of `bench/ingest.sh`: a bare C2SP tile writer, no server.

`aics_tlog.IncrementalTileWriter` appends ~1 KiB entries in batches of
2,048 to a `DirectoryTileStore` with fsync on (every tile and entry bundle
written atomically, its file and directory flushed before the append
returns). No HTTP, no parsing, no index, no PII scan: the floor a log built
from tiles alone pays for hashing and durable writes on this machine.

Usage: python3 bench/tile_writer_peer.py [SECONDS] [ENTRY_BYTES] [BATCH]
Prints one JSON object: entries, seconds, entries_per_s, batch p50/p99 ms.
The rate counts only the time inside `append` (making the entries is not
charged to the peer), so it is the writer's best case.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from aics_tlog import DirectoryTileStore, IncrementalTileWriter


def entry_text(size: int) -> bytes:
    # The same prose the sealtrail load generator pads its events with, so
    # both sides hash and write bytes of the same kind and length.
    text = (
        "The customer asked about order status and refund eligibility. "
        "I looked up the order history, checked the return window and the payment method, "
        "and summarised the policy that applies. "
    )
    return (text * (size // len(text) + 1)).encode()[:size]


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 2048
    base = entry_text(size)
    with tempfile.TemporaryDirectory(prefix="aics-tlog-peer-") as root:
        writer = IncrementalTileWriter(DirectoryTileStore(root, fsync=True))
        counter = 0
        lat = []
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            # Entries differ in their first bytes, like real events.
            entries = []
            for _ in range(batch):
                prefix = b"%012d " % counter
                entries.append(prefix + base[len(prefix):])
                counter += 1
            t0 = time.perf_counter()
            writer.append(entries)
            lat.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
    appending = sum(lat)
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(
        json.dumps(
            {
                "peer": "aics-tlog IncrementalTileWriter + DirectoryTileStore(fsync=True)",
                "entries": counter,
                "entry_bytes": size,
                "batch": batch,
                "seconds": round(elapsed, 3),
                "seconds_appending": round(appending, 3),
                "entries_per_s": round(counter / appending, 1),
                "append_p50_ms": round(pick(0.5), 2),
                "append_p99_ms": round(pick(0.99), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
