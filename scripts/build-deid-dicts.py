#!/usr/bin/env python3
"""Builds the dictionaries shipped in crates/haven-deid/data/.

    python3 -m venv /tmp/dictvenv && /tmp/dictvenv/bin/pip install names==0.3.0 zipcodes==3.0.0 \
        gender-guesser==0.4.0 wordfreq==3.1.1
    /tmp/dictvenv/bin/python scripts/build-deid-dicts.py [--data ../shared/data]

Sources (see crates/haven-deid/data/README.md for licences):
- first names and surnames: the US Census 1990 name lists shipped by the
  PyPI package `names` 0.3.0 (dist.male.first, dist.female.first,
  dist.all.last);
- given names from other countries: Jörg Michael's name dictionary
  (nam_dict.txt, GNU FDL 1.2) as shipped by the PyPI package
  `gender-guesser` 0.4.0, minus names of one or two letters and names that
  are ordinary English words (Zipf frequency >= 3.0 in the PyPI package
  `wordfreq`, or >= 3.6 for names popular in some country, minus a short
  list of words: "Will" is in the Census list, "Saline" and "Arise" are
  not kept, "Sven" and "Magnus" are); the result is released under the GNU FDL like its source;
- US places and ZIP codes: the PyPI package `zipcodes` 3.0.0 (USPS ZIP
  codes with their city and county names; coordinates are not used);
- common words: words that MedQuAD answers (CC BY 4.0) write in lower case,
  kept only where they collide with a name or place above, so a capitalised
  "Will", "Hope" or "Mobile" at a sentence start needs more evidence than the
  dictionary alone;
- English words: ordinary English words (Zipf frequency >= 3.0 in the PyPI
  package `wordfreq` 3.1.1) that no name or place list above holds, so an
  unknown capitalised "Have" or "Nope" after "Patient:" in a transcript is
  not taken for a name; the list is released under wordfreq's data licence
  (CC BY-SA 4.0).
"""

import argparse
import collections
import glob
import os
import re
import xml.etree.ElementTree as ET

import gender_guesser
import names
import zipcodes
from wordfreq import top_n_list, zipf_frequency

# Popular given names elsewhere that are ordinary English words.
ENGLISH_WORDS = set(
    """ants roar mart dang hamlet bing ding mare brit lama elle peep semen ting rein fang ascension
    ante mane saviour tome novo bien mite toon tong thong franc salam pius""".split()
)

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

    intl = set()
    nam_dict = os.path.join(os.path.dirname(gender_guesser.__file__), "data", "nam_dict.txt")
    with open(nam_dict, encoding="utf-8") as f:
        for line in f:
            if line.startswith(("#", "=")):
                continue
            n = line[3:29].strip().lower()
            # One hex digit per country: how common the name is there (1-13).
            popular = any(c in "56789ABCD" for c in line[30:85])
            # '+' joins parts of Arabic, Chinese and Korean names ("Jun+Wei").
            for part in n.split("+"):
                if len(part) < 3 or " " in part:
                    continue
                # Names English writes often ("Sven", "Magnus") score like
                # mid-frequency words; a popular name of four letters or more
                # may score up to 3.6 unless it is an ordinary word.
                zipf = zipf_frequency(part, "en")
                if zipf < 3.0 or (popular and len(part) >= 4 and zipf < 3.6 and part not in ENGLISH_WORDS):
                    intl.add(part)
    intl = sorted(intl - set(first))

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
    vocab = set(first) | set(intl) | set(last) | {w for p in places for w in p.split()}
    common = sorted(w for w, n in lower.items() if n >= 2 and w in vocab)

    place_words = {w for p in places for w in p.split()}
    names_and_places = set(first) | set(intl) | set(last) | place_words
    english = sorted(
        w
        for w in top_n_list("en", 60000)
        if re.fullmatch(r"[a-z][a-z']*[a-z]", w) and zipf_frequency(w, "en") >= 3.0 and w not in names_and_places
    )

    def write(name, words, header):
        with open(os.path.join(OUT, name), "w") as f:
            f.write(header)
            for w in words:
                f.write(w + "\n")

    write("first_names.txt", first, "# US Census 1990 given names (male and female), lower case.\n")
    write(
        "first_names_intl.txt",
        intl,
        "# Given names of other countries, lower case, from Jörg Michael's nam_dict.txt\n"
        "# (gender-guesser 0.4.0) minus short names and English words; GNU FDL 1.2.\n",
    )
    write("surnames.txt", last, "# US Census 1990 surnames, lower case, most frequent first.\n")
    write("places.txt", places, "# US city names and accepted city names of USPS ZIP codes, lower case.\n")
    write("common_words.txt", common, "# Name or place words that MedQuAD answers write in lower case.\n")
    write(
        "english_words.txt",
        english,
        "# Ordinary English words (Zipf frequency >= 3.0 in wordfreq 3.1.1) that no name or place\n"
        "# list holds, lower case; CC BY-SA 4.0 (wordfreq's data licence).\n",
    )
    with open(os.path.join(OUT, "zips.bin"), "wb") as f:
        f.write(bytes(zips))
    print(f"first {len(first)}, intl {len(intl)}, surnames {len(last)}, places {len(places)}, common {len(common)}, "
          f"english {len(english)}")


if __name__ == "__main__":
    main()
