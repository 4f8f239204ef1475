#!/usr/bin/env python3
"""make eval-dedup: near-duplicate pair precision/recall/F1 on republished copies, beside datasketch.

The labelled set: every wcxb-dev article body (its checked main_content) is an original (originals
that already copy each other, found exactly, are one copy set: `corpus_copies`); a share of
them are republished the ways outlets do, one to three times each, with the transformations mixed:
other page furniture around the text, the last paragraphs cut, headline and wording edits ("today"
→ "on Thursday", a few words swapped), a local paragraph inserted, quote styles and British/American
spellings changed. The other bodies are unrelated articles. The seeds are added as they are, with
000, 001 and 003 labelled one copy set (one AFP story) and 002, 004 on their own.

Everything goes, shuffled with a fixed seed, through `article-ingest process` as crawler text; its
`duplicate_of` links make the predicted copy sets. Pairs inside a set are the positives. The reference
row is datasketch's MinHashLSH (128 permutations, word 5-shingles, the same tokens) over the cleaned
bodies article-ingest printed, so cleaning is not what separates the rows; it is run at every
threshold from 0.3 to 0.9 and its best is shown. Stories are scored the same way on `story_id`: a
copy set is one story, the five seeds are one story, the other originals are stories of their own.
"""
import argparse
import collections
import itertools
import json
import os
import random
import re
import subprocess
import sys
import time

from datasketch import MinHash, MinHashLSH

sys.path.insert(0, os.path.dirname(__file__))
from eval_clean import load_corpus  # noqa: E402

TOKEN = re.compile(r"\w+")
FURNITURE = [
    ["Home » World » Europe", "Share this article", "Follow us on Twitter"],
    ["Menu", "News | Sport | Business | Culture", "Subscribe to our newsletter"],
    ["Advertisement", "Related: More stories from the region", "© 2016 The Daily Courier. All rights reserved."],
    ["You are here: Home / International", "Print this page", "Comments (0)"],
]
SPELLINGS = [("color", "colour"), ("center", "centre"), ("organization", "organisation"), ("defense", "defence"),
             ("program", "programme"), ("favor", "favour"), ("analyze", "analyse"), ("labor", "labour")]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
VOCABULARY = ("council residents mayor river bridge harbour market festival railway school hospital farmers "
              "police court museum station airport budget storm village").split()


def paragraphs(text):
    return [p.strip() for p in re.split(r"\n+", text) if p.strip()]


def local_paragraph(rng):
    words = [rng.choice(VOCABULARY) for _ in range(rng.randint(25, 45))]
    return "In the region, " + " ".join(words) + ", local officials said."


def republish(body, rng):
    """One outlet's version of `body`: two to four transformations, always with its own furniture."""
    paras = paragraphs(body)
    kinds = rng.sample(["truncate", "edit", "insert", "spelling"], rng.randint(2, 4))
    if "truncate" in kinds and len(paras) > 3:
        keep = max(2, int(len(paras) * rng.uniform(0.6, 0.85)))
        paras = paras[:keep]
    if "edit" in kinds:
        paras = [re.sub(r"\btoday\b", "on " + rng.choice(DAYS), p) for p in paras]
        paras = [p.replace("said", "told reporters", 1) if rng.random() < 0.2 else p for p in paras]
        paras.insert(0, "UPDATED: " + (paras[0][:60] if paras else "story"))
    if "insert" in kinds:
        paras.insert(rng.randint(1, max(1, len(paras))), local_paragraph(rng))
    if "spelling" in kinds:
        text = "\n".join(paras).replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
        for american, british in SPELLINGS:
            text = text.replace(american, british)
        paras = text.split("\n")
    header, middle, footer = rng.choice(FURNITURE)
    return "\n".join([header, middle] + paras + [footer])


def exact_shingles(text):
    words = TOKEN.findall(text.lower())
    return {tuple(words[i:i + 5]) for i in range(len(words) - 4)}


def corpus_copies(corpus):
    """Pairs of originals that already copy each other, found exactly: at least 50 five-word
    shingles shared word for word, making up at least a fifth of one of them (the seeds' 000 and 003,
    one AFP story, share 106 and 24-30 %). Returns a representative original for each."""
    sets = {p["id"]: exact_shingles(p["truth"]) for p in corpus}
    postings = collections.defaultdict(set)
    for page_id, shingle_set in sets.items():
        for s in shingle_set:
            postings[s].add(page_id)
    parent = {page_id: page_id for page_id in sets}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    shared = collections.Counter()
    for ids in postings.values():
        if len(ids) < 20:
            for pair in itertools.combinations(sorted(ids), 2):
                shared[pair] += 1
    for (a, b), n in shared.items():
        if n >= 50 and n >= 0.2 * min(len(sets[a]), len(sets[b])):
            parent[find(a)] = find(b)
    return {page_id: find(page_id) for page_id in sets}


def build_set(corpus, seeds_dir, share, rng):
    articles, copy_set = [], {}
    representative = corpus_copies(corpus)
    for page in corpus:
        body = page["truth"]
        if len(TOKEN.findall(body)) < 60:
            continue
        set_id = "set-" + representative[page["id"]]
        articles.append((page["id"], body))
        copy_set[page["id"]] = set_id
        if rng.random() < share:
            for n in range(rng.randint(1, 3)):
                copy_id = f"{page['id']}-copy{n}"
                articles.append((copy_id, republish(body, rng)))
                copy_set[copy_id] = set_id
    if seeds_dir and os.path.isdir(seeds_dir):
        for name in sorted(os.listdir(seeds_dir)):
            with open(os.path.join(seeds_dir, name), encoding="utf-8") as f:
                seed_id = "seed-" + name[:3]
                articles.append((seed_id, f.read()))
                copy_set[seed_id] = "set-seeds-afp" if name[:3] in ("000", "001", "003") else "set-" + seed_id
    rng.shuffle(articles)
    return articles, copy_set


def pairs_of(groups):
    out = set()
    for members in groups.values():
        out.update(itertools.combinations(sorted(members), 2))
    return out


def score(predicted_pairs, truth_pairs):
    tp = len(predicted_pairs & truth_pairs)
    precision = tp / len(predicted_pairs) if predicted_pairs else 1.0
    recall = tp / len(truth_pairs) if truth_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run_article_ingest(binary, articles):
    envelopes = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in articles)
    started = time.perf_counter()
    out = subprocess.run([binary, "process", "--log-format", "text"], input=envelopes.encode(), capture_output=True,
                         check=True, env={**os.environ, "RUST_LOG": "warn"}).stdout.decode()
    seconds = time.perf_counter() - started
    rows = [json.loads(line) for line in out.splitlines()]
    groups = collections.defaultdict(set)
    for row in rows:
        groups[row["duplicate_of"] or row["id"]].add(row["id"])
    return rows, groups, seconds


def shingles(text):
    words = TOKEN.findall(text.lower())
    return {" ".join(words[i:i + 5]) for i in range(max(1, len(words) - 4))}


def run_datasketch(rows, threshold):
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    canonical, groups = {}, collections.defaultdict(set)
    for row in rows:
        m = MinHash(num_perm=128, seed=1)
        for s in shingles(row["body"]):
            m.update(s.encode())
        matches = lsh.query(m)
        canon = min((canonical[x] for x in matches), key=order.get) if matches else row["id"]
        canonical[row["id"]] = canon
        groups[canon].add(row["id"])
        lsh.insert(row["id"], m)
    return groups


order = {}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--seeds")
    parser.add_argument("--binary", default="target/release/article-ingest")
    parser.add_argument("--share", type=float, default=0.4, help="share of originals that are republished")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    articles, copy_set = build_set(load_corpus(args.corpus, 0), args.seeds, args.share, rng)
    truth = collections.defaultdict(set)
    for article_id, set_id in copy_set.items():
        truth[set_id].add(article_id)
    truth_pairs = pairs_of(truth)
    rows, groups, seconds = run_article_ingest(args.binary, articles)
    order.update({row["id"]: n for n, row in enumerate(rows)})

    results = [("article-ingest", "copies", *score(pairs_of(groups), truth_pairs), seconds)]
    best = None
    for threshold in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]:
        started = time.perf_counter()
        row = ("datasketch MinHashLSH", f"threshold {threshold}",
               *score(pairs_of(run_datasketch(rows, threshold)), truth_pairs), time.perf_counter() - started)
        if best is None or row[4] > best[4]:
            best = row
    results.append((best[0], best[1] + " (best)", *best[2:]))

    # Stories: a copy set is one story, and all five seeds tell one event; the originals are
    # otherwise unrelated articles.
    story_truth = collections.defaultdict(set)
    for article_id, set_id in copy_set.items():
        story_truth["story-seeds" if article_id.startswith("seed-") else set_id].add(article_id)
    story_groups = collections.defaultdict(set)
    for row in rows:
        story_groups[row["story_id"] or row["id"]].add(row["id"])
    story_pairs = pairs_of(story_truth)
    results.append(("article-ingest", "stories", *score(pairs_of(story_groups), story_pairs), seconds))

    seeds = {row["id"]: row["duplicate_of"] or row["id"] for row in rows if row["id"].startswith("seed-")}
    seed_stories = {row["id"]: row["story_id"] for row in rows if row["id"].startswith("seed-")}
    print(f"\n{len(articles)} articles: {len(truth)} copy sets, {len(truth_pairs)} copy pairs"
          f" ({sum(1 for k, v in copy_set.items() if '-copy' not in k and not k.startswith('seed-') and v != 'set-' + k)}"
          " originals already copy another)\n")
    print(f"story pairs: {len(story_pairs)}\n")
    print(f"{'method':24} {'setting':20} {'precision':>9} {'recall':>7} {'F1':>7} {'seconds':>8}")
    for name, setting, p, r, f, s in results:
        print(f"{name:24} {setting:20} {p:9.4f} {r:7.4f} {f:7.4f} {s:8.1f}")
    if seeds:
        print("\nseeds: canonical of each:", ", ".join(f"{k[5:]}→{v[5:]}" for k, v in sorted(seeds.items())))
        print("seeds: story of each:", ", ".join(f"{k[5:]}→{(v or k)[5:]}" for k, v in sorted(seed_stories.items())))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pairs": len(truth_pairs), "story_pairs": len(story_pairs), "rows": [dict(zip(
                ["method", "setting", "precision", "recall", "f1", "seconds"], r)) for r in results], "seeds": seeds}, f, indent=1)


if __name__ == "__main__":
    main()
