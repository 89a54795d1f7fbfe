#!/usr/bin/env python3
"""Turns Haven's marked-up clinical test notes into labelled JSON Lines.

    python3 scripts/build-deid-testnotes.py

Reads crates/haven-deid/tests/data/clinical_notes.txt, where notes are
separated by lines of "=====" and every identifier is written
{TYPE|text}, and writes clinical_notes.jsonl beside it:
{"text": ..., "spans": [{"start", "end", "type"}]} with offsets in code
points (Python string indices), end exclusive. All PHI in the notes is
invented.
"""

import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "crates", "haven-deid", "tests", "data")
TYPES = {"NAME", "LOCATION", "DATE", "AGE", "PHONE", "FAX", "EMAIL", "SSN", "MRN", "HEALTH_PLAN_ID", "ACCOUNT",
         "LICENSE", "VEHICLE_ID", "DEVICE_ID", "URL", "IP", "OTHER_ID"}


def convert(note):
    text, spans, pos = "", [], 0
    for m in re.finditer(r"\{([A-Z_]+)\|([^{}]*)\}", note):
        kind, value = m.group(1), m.group(2)
        if kind not in TYPES:
            raise SystemExit(f"unknown type {kind}")
        text += note[pos:m.start()]
        spans.append({"start": len(text), "end": len(text) + len(value), "type": kind})
        text += value
        pos = m.end()
    text += note[pos:]
    return {"text": text, "spans": spans}


def main():
    with open(os.path.join(DIR, "clinical_notes.txt")) as f:
        notes = [n.strip("\n") for n in f.read().split("\n=====\n") if n.strip()]
    with open(os.path.join(DIR, "clinical_notes.jsonl"), "w") as f:
        for n in notes:
            f.write(json.dumps(convert(n), ensure_ascii=False) + "\n")
    print(f"{len(notes)} notes")


if __name__ == "__main__":
    main()
