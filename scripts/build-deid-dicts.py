#!/usr/bin/env python3
"""Builds the dictionaries shipped in crates/haven-deid/data/.

    python3 -m venv /tmp/dictvenv && /tmp/dictvenv/bin/pip install names==0.3.0 zipcodes==3.0.0
    /tmp/dictvenv/bin/python scripts/build-deid-dicts.py [--data ../shared/data]

Sources (see crates/haven-deid/data/README.md for licences):
- first names and surnames: the US Census 1990 name lists shipped by the
  PyPI package `names` 0.3.0 (dist.male.first, dist.female.first,
  dist.all.last);
- US places and ZIP codes: the PyPI package `zipcodes` 3.0.0 (USPS ZIP
  codes with their city and county names; coordinates are not used);
- common words: words that MedQuAD answers (CC BY 4.0) write in lower case,
  kept only where they collide with a name or place above, so a capitalised
  "Will", "Hope" or "Mobile" at a sentence start needs more evidence than the
  dictionary alone.
"""

import argparse
import collections
import glob
import os
import re
import xml.etree.ElementTree as ET

import names
import zipcodes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "haven-deid", "data")


def census(file):
    path = os.path.join(os.path.dirname(names.__file__), file)
    with open(path) as f:
        return [line.split()[0].lower() for line in f if line.strip()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    args = parser.parse_args()

    first = sorted(set(census("dist.male.first")) | set(census("dist.female.first")))
    last = census("dist.all.last")  # frequency order; keep it: rank is a signal

    places = set()
    zips = bytearray(100000 // 8 + 1)
    for z in zipcodes.list_all():
        code = z["zip_code"]
        if code.isdigit() and len(code) == 5:
            n = int(code)
            zips[n // 8] |= 1 << (n % 8)
        for c in [z["city"]] + list(z.get("acceptable_cities") or []):
            c = c.strip().lower()
            if len(c) >= 3 and re.fullmatch(r"[a-z][a-z .'-]*", c):
                places.add(c)
    places = sorted(places)

    lower = collections.Counter()
    for path in glob.glob(os.path.join(args.data, "kb", "medquad", "*", "*.xml")):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            continue
        for a in root.iter("Answer"):
            lower.update(re.findall(r"(?<![A-Za-z.])[a-z][a-z'-]+", a.text or ""))
    vocab = set(first) | set(last) | {w for p in places for w in p.split()}
    common = sorted(w for w, n in lower.items() if n >= 2 and w in vocab)

    def write(name, words, header):
        with open(os.path.join(OUT, name), "w") as f:
            f.write(header)
            for w in words:
                f.write(w + "\n")

    write("first_names.txt", first, "# US Census 1990 given names (male and female), lower case.\n")
    write("surnames.txt", last, "# US Census 1990 surnames, lower case, most frequent first.\n")
    write("places.txt", places, "# US city names and accepted city names of USPS ZIP codes, lower case.\n")
    write("common_words.txt", common, "# Name or place words that MedQuAD answers write in lower case.\n")
    with open(os.path.join(OUT, "zips.bin"), "wb") as f:
        f.write(bytes(zips))
    print(f"first {len(first)}, surnames {len(last)}, places {len(places)}, common {len(common)}")


if __name__ == "__main__":
    main()
