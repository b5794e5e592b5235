#!/usr/bin/env python3
"""Accuracy and throughput of sealtrail-pii against Microsoft Presidio.

Same run, same samples:
  1. installs Presidio (analyzer + evaluator) and Faker from PyPI into
     bench/pii/.venv (pinned in requirements.txt) and re-runs itself there;
  2. generates labelled sentences with presidio-evaluator's
     PresidioSentenceFaker (its templates, Faker values, fixed seed);
  3. runs Presidio's AnalyzerEngine with its predefined *pattern*
     recognizers (spaCy NER is removed: no trained model can be installed
     here, so the NLP engine is `spacy.blank("en")`, tokens only), and
     the `score` example of sealtrail-pii on the same texts;
  4. prints precision, recall and F2 per entity for both, and the
     single-core throughput of both.

Matching is by span overlap (a prediction is a true positive when it
overlaps an unmatched gold span of the same entity), per entity.

Usage: python3 bench/pii/compare.py [--samples 2000] [--seed 42] [--repeat 20]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
OUT = HERE / "out"

# gold entity -> (sealtrail entity, presidio entity)
ENTITIES = {
    "CREDIT_CARD": ("credit_card", "CREDIT_CARD"),
    "EMAIL_ADDRESS": ("email", "EMAIL_ADDRESS"),
    "PHONE_NUMBER": ("phone", "PHONE_NUMBER"),
    "IBAN_CODE": ("iban", "IBAN_CODE"),
    "US_SSN": ("us_ssn", "US_SSN"),
    "IP_ADDRESS": ("ip_address", "IP_ADDRESS"),
    "CRYPTO": ("crypto_address", "CRYPTO"),
    "URL": (None, "URL"),
    "US_DRIVER_LICENSE": (None, "US_DRIVER_LICENSE"),
}


def ensure_venv():
    """Re-executes inside bench/pii/.venv, creating it on first use."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")],
            check=True,
        )
    os.execv(str(py), [str(py), __file__, *sys.argv[1:]])


def generate(n, seed):
    import random

    from presidio_evaluator.data_generator import PresidioSentenceFaker

    random.seed(seed)
    faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.05, random_seed=seed)
    samples = []
    for i, rec in enumerate(faker.generate_new_fake_sentences(n)):
        spans = [
            {"entity": s.entity_type, "start": s.start_position, "end": s.end_position}
            for s in rec.spans
        ]
        samples.append({"id": i, "text": rec.full_text, "spans": spans})
    return samples


def presidio_analyzer():
    import logging

    import spacy

    # tldextract (used by the e-mail and URL recognizers) tries to refresh
    # the public suffix list over the network and falls back to its bundled
    # copy; keep its traceback out of the report.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacy(SpacyNlpEngine):
        """spaCy tokenizer only: no trained pipeline can be downloaded here."""

        def __init__(self):
            super().__init__(models=[{"lang_code": "en", "model_name": "blank:en"}])

        def load(self):
            self.nlp = {"en": spacy.blank("en")}

    analyzer = AnalyzerEngine(nlp_engine=BlankSpacy(), supported_languages=["en"])
    # Pattern recognizers only: the NER recognizer has no model to run.
    for name in ("SpacyRecognizer",):
        try:
            analyzer.registry.remove_recognizer(name)
        except Exception:  # noqa: BLE001 - absent in some versions
            pass
    return analyzer


def run_presidio(samples, repeat):
    analyzer = presidio_analyzer()
    for s in samples[:50]:  # warm-up: regex compilation, lazy loads
        analyzer.analyze(text=s["text"], language="en")
    results = {}
    start = time.perf_counter()
    for s in samples:
        found = analyzer.analyze(text=s["text"], language="en")
        results[s["id"]] = [
            {"entity": r.entity_type, "start": r.start, "end": r.end, "score": r.score}
            for r in found
        ]
    seconds = time.perf_counter() - start
    # Presidio is slow enough that one timed pass is stable; `repeat` only
    # applies to sealtrail, whose pass over these samples takes milliseconds.
    _ = repeat
    names = sorted(r.name for r in analyzer.registry.recognizers)
    return results, seconds, names


def run_sealtrail(samples, repeat):
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "sealtrail-pii", "--example", "score"],
        cwd=ROOT,
        check=True,
    )
    exe = ROOT / "target" / "release" / "examples" / "score"
    feed = "".join(json.dumps({"id": s["id"], "text": s["text"]}) + "\n" for s in samples)
    wall = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "--repeat", str(repeat)], input=feed, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - wall
    results, summary = {}, None
    for line in proc.stdout.splitlines():
        v = json.loads(line)
        if "summary" in v:
            summary = v["summary"]
        else:
            results[v["id"]] = v["findings"]
    return results, summary["scan_seconds"], wall


def score(samples, predictions, gold_type, pred_type, min_score=0.0):
    tp = fp = fn = 0
    for s in samples:
        gold = [g for g in s["spans"] if g["entity"] == gold_type]
        used = [False] * len(gold)
        preds = [
            p
            for p in predictions.get(s["id"], [])
            if pred_type is not None and p["entity"] == pred_type and p["score"] >= min_score
        ]
        for p in preds:
            hit = next(
                (i for i, g in enumerate(gold) if not used[i] and p["start"] < g["end"] and g["start"] < p["end"]),
                None,
            )
            if hit is None:
                fp += 1
            else:
                used[hit] = True
                tp += 1
        fn += used.count(False)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
    return tp, fp, fn, p, r, f2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=20, help="timed passes of sealtrail over the samples")
    args = ap.parse_args()
    ensure_venv()
    OUT.mkdir(exist_ok=True)

    samples = generate(args.samples, args.seed)
    (OUT / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    counts = {}
    for s in samples:
        for g in s["spans"]:
            counts[g["entity"]] = counts.get(g["entity"], 0) + 1

    st_pred, st_seconds, st_wall = run_sealtrail(samples, args.repeat)
    pr_pred, pr_seconds, pr_names = run_presidio(samples, args.repeat)
    (OUT / "sealtrail.json").write_text(json.dumps(st_pred))
    (OUT / "presidio.json").write_text(json.dumps(pr_pred))

    print(f"samples: {len(samples)} (presidio-evaluator PresidioSentenceFaker, seed {args.seed})")
    print(f"presidio recognizers: {', '.join(pr_names)}")
    print()
    print("| entity | gold | sealtrail P / R / F2 | Presidio (all scores) P / R / F2 | Presidio (score >= 0.5) P / R / F2 |")
    print("|---|---|---|---|---|")
    for gold_type, (st_type, pr_type) in ENTITIES.items():
        n = counts.get(gold_type, 0)
        if n == 0:
            continue
        cells = []
        for preds, ptype, th in ((st_pred, st_type, 0.0), (pr_pred, pr_type, 0.0), (pr_pred, pr_type, 0.5)):
            if ptype is None:
                cells.append("not detected")
                continue
            tp, fp, fn, p, r, f2 = score(samples, preds, gold_type, ptype, th)
            cells.append(f"{p:.2f} / {r:.2f} / **{f2:.2f}** ({tp} tp, {fp} fp, {fn} fn)")
        print(f"| {gold_type} | {n} | " + " | ".join(cells) + " |")
    others = {k: v for k, v in counts.items() if k not in ENTITIES}
    print()
    print("gold entities neither side detects (need NER or are general dates): "
          + ", ".join(f"{k} {v}" for k, v in sorted(others.items())))

    # Findings of sealtrail on entity types the generator does not label.
    extra = {}
    for f in (f for fs in st_pred.values() for f in fs):
        if f["entity"] not in {v[0] for v in ENTITIES.values()}:
            extra[f["entity"]] = extra.get(f["entity"], 0) + 1
    if extra:
        print("sealtrail findings of entities the generator does not label: "
              + ", ".join(f"{k} {v}" for k, v in sorted(extra.items())))

    nbytes = sum(len(s["text"].encode()) for s in samples)
    print()
    print(f"| engine | samples/s | MB/s | time for {len(samples)} samples ({nbytes} bytes) |")
    print("|---|---|---|---|")
    print(f"| sealtrail-pii (scan only, mean of {args.repeat} passes) | {len(samples) / st_seconds:,.0f} | "
          f"{nbytes / st_seconds / 1e6:.1f} | {st_seconds * 1000:.1f} ms |")
    print(f"| sealtrail-pii process, incl. start, JSON in/out, {args.repeat + 1} passes | — | — | {st_wall * 1000:.0f} ms |")
    print(f"| Presidio AnalyzerEngine, pattern recognizers | {len(samples) / pr_seconds:,.0f} | "
          f"{nbytes / pr_seconds / 1e6:.2f} | {pr_seconds * 1000:.0f} ms |")
    print(f"| ratio | {pr_seconds / st_seconds:,.0f}x | | |")


if __name__ == "__main__":
    main()
