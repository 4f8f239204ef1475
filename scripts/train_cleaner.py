#!/usr/bin/env python3
"""Trains the cleaner's line classifier on wcxb-dev and writes src/stages/clean/model.json.

1. `clean-features` (the same Rust code the cleaner runs) turns every page, as crawler text and as
   HTML, into lines with their feature vectors.
2. Labels: a line is article text when its tokens appear, in page order, in the checked main_content
   (a monotonic alignment; short lines must sit right where the alignment has got to, long lines may
   match anywhere or be 85 % contained).
3. Gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier), cross-validated by page
   (GroupKFold): the held-out pages are scored with the evaluation's own metric (bag-of-words F1 of the
   kept lines against main_content, after the cleaner's rule-forced drops), which picks the decision
   threshold. (A second, stacked stage over neighbours' scores was tried and gained nothing held out:
   the window features already carry the context.)
4. A final model on every page is exported as plain trees the Rust cleaner walks.

Usage: python scripts/train_cleaner.py [--corpus DIR] [--folds 5] [--out src/stages/clean/model.json]
"""
import argparse
import bisect
import collections
import json
import os
import subprocess
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GroupKFold

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "eval"))
from eval_clean import TOKEN, load_corpus, prf  # noqa: E402

THRESHOLDS = [round(0.25 + 0.05 * i, 2) for i in range(11)]


def features_for(binary, pages, mode):
    envelopes = "".join(json.dumps({"id": p["id"], "url": p["url"], mode: p[mode]}) + "\n" for p in pages)
    out = subprocess.run([binary], input=envelopes.encode(), capture_output=True, check=True).stdout.decode()
    rows = [json.loads(line) for line in out.splitlines()]
    return rows[0]["feature_names"], {r["id"]: r["lines"] for r in rows[1:]}


def find_sequence(truth, positions, needle, start, window):
    candidates = positions.get(needle[0], [])
    i = bisect.bisect_left(candidates, start)
    while i < len(candidates):
        p = candidates[i]
        if window is not None and p > start + window:
            return None
        if truth[p : p + len(needle)] == needle:
            return p
        i += 1
    return None


def label_lines(lines, truth_text):
    truth = TOKEN.findall(truth_text.lower())
    positions = collections.defaultdict(list)
    for i, token in enumerate(truth):
        positions[token].append(i)
    truth_bag = collections.Counter(truth)
    cursor, labels = 0, []
    for text in lines:
        needle = TOKEN.findall(text.lower())
        if not needle:
            labels.append(0)
            continue
        short = len(needle) < 4
        found = find_sequence(truth, positions, needle, cursor, 8 if short else None)
        if found is None and not short:
            found = find_sequence(truth, positions, needle, 0, None)
        if found is not None:
            labels.append(1)
            cursor = max(cursor, found + len(needle))
        elif len(needle) >= 8:
            bag = collections.Counter(needle)
            contained = sum((bag & truth_bag).values()) / len(needle)
            labels.append(int(contained >= 0.85))
        else:
            labels.append(0)
    return labels


def page_f1(lines, keep, truth):
    # The cleaner also drops a trailing line ending in ":" that introduces only removed lines.
    keep = list(keep)
    while any(keep):
        last = max(i for i, k in enumerate(keep) if k)
        if lines[last].rstrip(" \"'’”»)]*").endswith(":") and last + 1 < len(lines):
            keep[last] = False
        else:
            break
    body = "\n\n".join(text for text, k in zip(lines, keep) if k)
    return prf(body, truth)[2]


def ensemble(model):
    trees = []
    for predictors in model._predictors:
        nodes = predictors[0].nodes
        trees.append({
            "feature": [int(x) for x in nodes["feature_idx"]],
            "threshold": [float(f"{x:.9g}") for x in nodes["num_threshold"]],
            "left": [int(x) for x in nodes["left"]],
            "right": [int(x) for x in nodes["right"]],
            "leaf": [bool(x) for x in nodes["is_leaf"]],
            "value": [float(f"{x:.7g}") for x in nodes["value"]],
        })
    return {"baseline": float(np.ravel(model._baseline_prediction)[0]), "trees": trees}


def export(model, feature_names, threshold, path, cv_table):
    document = {
        "about": "Line classifier of the cleaner: gradient-boosted trees trained by scripts/train_cleaner.py on wcxb-dev.",
        "feature_names": feature_names,
        "threshold": threshold,
        "cross_validation": cv_table,
        **ensemble(model),
    }
    with open(path, "w") as f:
        json.dump(document, f, separators=(",", ":"))
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "../../shared/corpus/wcxb-dev"))
    parser.add_argument("--binary", default="target/release/clean-features")
    parser.add_argument("--out", default="src/stages/clean/model.json")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--trees", type=int, default=80)
    parser.add_argument("--leaves", type=int, default=31)
    args = parser.parse_args()

    pages = load_corpus(args.corpus, 0)
    truth = {p["id"]: p["truth"] for p in pages}
    samples = []  # (page index, mode, lines, features, labels)
    names = None
    for mode in ("text", "html"):
        names, by_id = features_for(args.binary, pages, mode)
        for index, p in enumerate(pages):
            lines = by_id.get(p["id"], [])
            texts = [line[0] for line in lines]
            ruled_out = [line[2] for line in lines]
            samples.append((index, mode, texts, [line[1] for line in lines], label_lines(texts, p["truth"]), ruled_out))
    X = np.array([f for s in samples for f in s[3]], dtype=np.float64)
    y = np.array([label for s in samples for label in s[4]])
    groups = np.array([s[0] for s in samples for _ in s[3]])
    owner = [(k, j) for k, s in enumerate(samples) for j in range(len(s[3]))]
    print(f"{len(pages)} pages, {len(X)} lines, {y.mean():.3f} labelled article text", file=sys.stderr)

    def new_model():
        return HistGradientBoostingClassifier(max_iter=args.trees, max_leaf_nodes=args.leaves, learning_rate=0.1,
                                              early_stopping=False, random_state=7)

    folds = list(GroupKFold(n_splits=args.folds).split(X, y, groups))

    def out_of_fold(features):
        probabilities = np.zeros(len(features))
        for fold, (train, test) in enumerate(folds):
            model = new_model().fit(features[train], y[train])
            probabilities[test] = model.predict_proba(features[test])[:, 1]
            print(f"  fold {fold + 1}/{args.folds}", file=sys.stderr)
        return probabilities

    def by_sample(values):
        grouped = collections.defaultdict(list)
        for row, (k, _) in enumerate(owner):
            grouped[k].append(values[row])
        return grouped

    probabilities_by_sample = by_sample(out_of_fold(X))

    cv_table = {}
    for threshold in THRESHOLDS:
        scores = collections.defaultdict(list)
        for k, s in enumerate(samples):
            keep = [p >= threshold and not out for p, out in zip(probabilities_by_sample.get(k, []), s[5])]
            scores[s[1]].append(page_f1(s[2], keep, truth[pages[s[0]]["id"]]))
        cv_table[str(threshold)] = {mode: round(float(np.mean(v)), 4) for mode, v in scores.items()}
    best = max(THRESHOLDS, key=lambda t: cv_table[str(t)]["text"] + cv_table[str(t)]["html"])
    print("held-out page F1 by threshold (text, html):", file=sys.stderr)
    for t in THRESHOLDS:
        mark = "  <- chosen" if t == best else ""
        print(f"  {t:.2f}  {cv_table[str(t)]['text']:.4f}  {cv_table[str(t)]['html']:.4f}{mark}", file=sys.stderr)

    export(new_model().fit(X, y), names, best, args.out, {"folds": args.folds, "held_out_f1": cv_table[str(best)]})
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
