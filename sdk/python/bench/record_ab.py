"""Two SDK versions' `record()` cost, alternating in one run (A B A B …).

    .venv/bin/python sdk/python/bench/record_ab.py --old DIR [--rounds 5] [-n 200000] [--rate R]

DIR holds the other version's `sealtrail` package (e.g. a copy of
sdk/python from an older commit, kept outside the repository). Each round
runs record_cost.py once per version, in a fresh process, old first then
new; alternating spreads the shared machine's load changes over both. Prints
one JSON line per run, then the median of each figure over the rounds and
the ratio old/new.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = ("p50_us", "p90_us", "p99_us", "p999_us", "calls_per_s", "baseline_p50_us", "baseline_p99_us",
        "spool_lag_p50_ms", "spool_lag_p99_ms", "spool_batches")


def run(sdk: str, n: int, rate: float) -> dict:
    out = subprocess.run([sys.executable, os.path.join(HERE, "record_cost.py"), str(n), "--sdk", sdk,
                          "--rate", str(rate)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, help="directory holding the old sealtrail package")
    ap.add_argument("--new", default=os.path.join(HERE, ".."), help="default: this checkout")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=0.0, help="as record_cost.py --rate")
    a = ap.parse_args()
    runs = {"old": [], "new": []}
    for r in range(a.rounds):
        for label, sdk in (("old", a.old), ("new", a.new)):
            res = run(sdk, a.n, a.rate)
            runs[label].append(res)
            print(json.dumps({"round": r + 1, "sdk": label, **{k: res[k] for k in KEYS},
                              "load_avg": round(res["load_avg"], 2)}), flush=True)
    print("\nmedian over %d rounds of %d calls each:" % (a.rounds, a.n))
    print("%-16s %10s %10s %8s" % ("", "old", "new", "old/new"))
    for k in KEYS:
        o = statistics.median(x[k] for x in runs["old"])
        nw = statistics.median(x[k] for x in runs["new"])
        print("%-16s %10.2f %10.2f %7.2fx" % (k, o, nw, o / nw if nw else float("nan")))


if __name__ == "__main__":
    main()
