#!/usr/bin/env python3
"""make eval-meta: accuracy of the metadata stage on wcxb-dev's checked title, author and publish_date.

Feeds every page to `article-ingest process` twice — the HTML, then the crawler text — with its URL
only (no title or date in the envelope), and scores against the checked values, beside trafilatura's
metadata extraction on the same inputs in the same run (text: each non-empty line one <p>):

- title: normalised exact match (case, punctuation, quote and dash styles and spacing folded);
- date: the same calendar day;
- author: any author found matches any listed author (the checked value split at commas and "and").

Each accuracy is over the pages whose checked value is present; a page where nothing was found
counts as wrong.
"""
import json
import os
import re
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_clean import corpus_arguments, load_corpus, run_process, text_as_html  # noqa: E402

FIELDS = ("title", "date", "author")
WORD = re.compile(r"\w+")


def fold(text):
    return " ".join(WORD.findall(unicodedata.normalize("NFKC", text or "").lower()))


def author_names(value):
    """A listed or found author value as a set of folded names."""
    if not value:
        return set()
    values = value if isinstance(value, list) else [value]
    names = set()
    for item in values:
        for part in re.split(r",|;|\band\b|&|\|", item):
            name = fold(part)
            if len(name.split()) >= 1 and len(name) > 2:
                names.add(name)
    return names


def correct(field, found, truth):
    if field == "title":
        return bool(found) and fold(found) == fold(truth)
    if field == "date":
        return bool(found) and found[:10] == truth[:10]
    return bool(author_names(found) & author_names(truth))


def truth_of(page, field):
    return page["meta"]["publish_date" if field == "date" else field]


def ours(article):
    return {"title": article.get("title"), "date": article.get("published_at"), "author": article.get("authors")}


def trafilatura_metadata(pages, mode):
    import trafilatura

    found = {}
    started = time.perf_counter()
    for p in pages:
        document = text_as_html(p["text"]) if mode == "text" else p["html"]
        meta = trafilatura.extract_metadata(document, default_url=p["url"])
        found[p["id"]] = {
            "title": meta.title if meta else None,
            "date": meta.date if meta else None,
            "author": meta.author.split(";") if meta and meta.author else None,
        }
    return found, time.perf_counter() - started


def accuracy(pages, found, field):
    scored = [p for p in pages if truth_of(p, field)]
    hits = sum(correct(field, found.get(p["id"], {}).get(field), truth_of(p, field)) for p in scored)
    return hits / len(scored) if scored else 0.0


def main():
    parser = corpus_arguments(__doc__)
    parser.add_argument("--misses", choices=FIELDS, help="list our misses on this field (text and HTML)")
    args = parser.parse_args()

    if not os.path.isdir(args.corpus):
        sys.exit(f"eval-meta: no corpus at {args.corpus} (it lives in ../shared beside the checkout)")
    pages = load_corpus(args.corpus, args.limit)
    table = []
    for mode in ("html", "text"):
        articles, seconds = run_process(args.binary, pages, mode)
        found = {page_id: ours(article) for page_id, article in articles.items()}
        if len(articles) < len(pages):
            print(f"  {mode}: {len(pages) - len(articles)} pages became dead letters (counted as wrong)")
        table.append(("article-ingest", mode, *(accuracy(pages, found, f) for f in FIELDS), seconds))
        if args.misses:
            for p in pages:
                truth = truth_of(p, args.misses)
                got = found.get(p["id"], {}).get(args.misses)
                if truth and not correct(args.misses, got, truth):
                    print(f"  miss {mode} {p['id']} want {truth!r} got {got!r}")
        if not args.no_reference:
            found, seconds = trafilatura_metadata(pages, mode)
            table.append(("trafilatura", mode, *(accuracy(pages, found, f) for f in FIELDS), seconds))

    counts = {f: sum(1 for p in pages if truth_of(p, f)) for f in FIELDS}
    print(f"\nwcxb-dev: {len(pages)} pages (checked titles {counts['title']}, dates {counts['date']}, "
          f"authors {counts['author']}); accuracy over the pages with a checked value\n")
    print(f"{'extractor':<16} {'input':<5} {'title':>7} {'date':>7} {'author':>7} {'seconds':>8}")
    for name, mode, title, date, author, seconds in table:
        print(f"{name:<16} {mode:<5} {title:>7.3f} {date:>7.3f} {author:>7.3f} {seconds:>8.1f}")
    if args.json:
        keys = ["extractor", "input", "title", "date", "author", "seconds"]
        with open(args.json, "w") as f:
            json.dump([dict(zip(keys, row)) for row in table], f, indent=1)


if __name__ == "__main__":
    main()
