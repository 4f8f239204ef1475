#!/usr/bin/env python3
"""make eval-clean: word-level bag-of-words precision/recall/F1 of the cleaner against wcxb-dev.

Feeds every page of the corpus to `article-ingest process` (text/ as crawler text, html/ as HTML, each
with its URL so site-level evidence applies), scores `body` against the checked `main_content`
(tokens: lowercase \\w+ runs; overlap: multiset intersection; averaged over pages), and scores
trafilatura on the same inputs as the reference row (text: each non-empty line wrapped as one <p>).
"""
import argparse
import collections
import gzip
import html as html_lib
import json
import os
import re
import subprocess
import sys
import time

TOKEN = re.compile(r"\w+")


def tokens(text):
    return collections.Counter(TOKEN.findall(text.lower()))


def prf(predicted, truth):
    p_tokens, t_tokens = tokens(predicted), tokens(truth)
    overlap = sum((p_tokens & t_tokens).values())
    p_total, t_total = sum(p_tokens.values()), sum(t_tokens.values())
    precision = overlap / p_total if p_total else 0.0
    recall = overlap / t_total if t_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def load_corpus(root, limit):
    pages = []
    for name in sorted(os.listdir(os.path.join(root, "truth"))):
        page_id = name[:-5]
        with open(os.path.join(root, "truth", name), encoding="utf-8") as f:
            truth = json.load(f)
        with open(os.path.join(root, "text", page_id + ".txt"), encoding="utf-8", errors="replace") as f:
            text = f.read()
        with gzip.open(os.path.join(root, "html", page_id + ".html.gz"), "rt", encoding="utf-8", errors="replace") as f:
            page = f.read()
        pages.append({
            "id": page_id, "url": truth.get("url"), "truth": truth.get("main_content") or "", "text": text, "html": page,
            "meta": {key: truth.get(key) for key in ("title", "author", "publish_date")},
        })
        if limit and len(pages) >= limit:
            break
    return pages


def run_process(binary, pages, mode):
    """Every page through `article-ingest process`: the articles by id, and the seconds it took."""
    envelopes = "".join(
        json.dumps({"id": p["id"], "url": p["url"], mode: p[mode]}) + "\n" for p in pages
    )
    started = time.perf_counter()
    result = subprocess.run([binary, "process", "--log-format", "text"], input=envelopes.encode(),
                            capture_output=True, check=True, env={**os.environ, "RUST_LOG": "warn"})
    seconds = time.perf_counter() - started
    articles = {}
    for line in result.stdout.decode().splitlines():
        article = json.loads(line)
        articles[article["id"]] = article
    return articles, seconds


def run_worker_stages(binary, pages, mode):
    articles, seconds = run_process(binary, pages, mode)
    return {page_id: article["body"] for page_id, article in articles.items()}, seconds


def text_as_html(text):
    """Crawler text as trafilatura can take it: each non-empty line one <p>."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "<html><body>" + "".join(f"<p>{html_lib.escape(line)}</p>" for line in lines) + "</body></html>"


def run_trafilatura(pages, mode):
    import trafilatura

    bodies = {}
    started = time.perf_counter()
    for p in pages:
        document = text_as_html(p["text"]) if mode == "text" else p["html"]
        bodies[p["id"]] = trafilatura.extract(document, include_comments=False) or ""
    return bodies, time.perf_counter() - started


def score(pages, bodies):
    rows = [prf(bodies.get(p["id"], ""), p["truth"]) for p in pages]
    n = len(rows)
    return tuple(sum(r[i] for r in rows) / n for i in range(3))


def corpus_arguments(description):
    """The options every wcxb-dev evaluation takes (eval-clean, eval-meta)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "../../../shared/corpus/wcxb-dev"))
    parser.add_argument("--binary", default="target/release/article-ingest")
    parser.add_argument("--no-reference", action="store_true", help="skip trafilatura")
    parser.add_argument("--limit", type=int, default=0, help="first N pages only")
    parser.add_argument("--json", help="also write the table here")
    return parser


def main():
    parser = corpus_arguments(__doc__)
    parser.add_argument("--worst", type=int, default=0, help="list the N worst text-mode pages")
    args = parser.parse_args()

    if not os.path.isdir(args.corpus):
        sys.exit(f"eval-clean: no corpus at {args.corpus} (it lives in ../shared beside the checkout)")
    pages = load_corpus(args.corpus, args.limit)
    table = []
    for mode in ("text", "html"):
        bodies, seconds = run_worker_stages(args.binary, pages, mode)
        table.append(("article-ingest", mode) + score(pages, bodies) + (seconds,))
        if mode == "text" and args.worst:
            worst = sorted(pages, key=lambda p: prf(bodies.get(p["id"], ""), p["truth"])[2])[: args.worst]
            for p in worst:
                print("  worst %s P=%.2f R=%.2f F1=%.2f %s" % ((p["id"],) + prf(bodies.get(p["id"], ""), p["truth"]) + (p["url"],)))
        if not args.no_reference:
            bodies, seconds = run_trafilatura(pages, mode)
            table.append(("trafilatura", mode) + score(pages, bodies) + (seconds,))

    print(f"\nwcxb-dev: {len(pages)} pages; bag-of-words scores averaged over pages\n")
    print(f"{'extractor':<16} {'input':<5} {'precision':>9} {'recall':>7} {'F1':>7} {'seconds':>8}")
    for name, mode, p, r, f, s in table:
        print(f"{name:<16} {mode:<5} {p:>9.3f} {r:>7.3f} {f:>7.3f} {s:>8.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dict(zip(["extractor", "input", "precision", "recall", "f1", "seconds"], row)) for row in table], f, indent=1)


if __name__ == "__main__":
    main()
