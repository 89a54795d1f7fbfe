#!/usr/bin/env python3
"""Builds crates/haven-safeguards/data/idf.tsv, the default word-frequency
table of the evidence check: for each word, the number of MedQuAD answers
(CC BY 4.0, see data/NOTICE.md) it appears in.

    scripts/build-idf.py [--data ../shared/data]

Words are lower-case runs of letters and digits, as the crate tokenises
them; words in fewer than 3 answers are left out (the check treats a
missing word as rare).
"""

import argparse
import collections
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "crates", "haven-safeguards", "data", "idf.tsv"))
    args = parser.parse_args()
    cmd = ["cargo", "run", "--release", "-q", "-p", "haven-safeguards", "--example", "safety_data", "--",
           "corpus", os.path.abspath(args.data)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    answers = [s["text"] for s in (json.loads(l) for l in out.split("\n") if l) if s["source"] == "medquad-answers"]
    df = collections.Counter()
    for a in answers:
        df.update(set(re.findall(r"[a-z0-9]+", a.lower())))
    with open(args.out, "w") as f:
        f.write(f"# documents\t{len(answers)}\n")
        for word, n in sorted(df.items(), key=lambda kv: (-kv[1], kv[0])):
            if n >= 3 and not word.isdigit():
                f.write(f"{word}\t{n}\n")


if __name__ == "__main__":
    main()
