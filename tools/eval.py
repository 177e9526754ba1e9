#!/usr/bin/env python3
"""Metrics of frontdesk's `negative` flag against labelled posts.

    tools/eval.py DATA.jsonl DECISIONS.jsonl

DATA has one {"id", "text", "label"} object a line; DECISIONS is the output
of `frontdesk replay --json DATA`, one decision a line echoing "id".  Prints
the confusion matrix of negative vs label == "negative", precision, recall,
F1 and MCC, and how often each label was flagged.  Exits 1 if a post has no
decision or a decision cannot be read.
"""
import json
import math
import sys


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{n}: {e}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    data_path, dec_path = sys.argv[1], sys.argv[2]
    decided = {}
    for d in load_jsonl(dec_path):
        if "id" in d and "negative" in d:
            decided[str(d["id"])] = bool(d["negative"])
    tp = fp = fn = tn = 0
    by_label = {}
    missing = 0
    for post in load_jsonl(data_path):
        pid = str(post.get("id"))
        if pid not in decided:
            missing += 1
            continue
        gold = post.get("label") == "negative"
        flag = decided[pid]
        label = post.get("label", "?")
        seen, flagged = by_label.get(label, (0, 0))
        by_label[label] = (seen + 1, flagged + flag)
        if flag and gold:
            tp += 1
        elif flag:
            fp += 1
        elif gold:
            fn += 1
        else:
            tn += 1
    n = tp + fp + fn + tn
    if missing or n == 0:
        print(f"eval: {missing} posts without a decision, {n} decided", file=sys.stderr)
        sys.exit(1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = (tp * tn - fp * fn) / den if den else 0.0

    print(f"negative posts: {data_path} ({n} posts)")
    print()
    print("                    labelled negative   labelled other")
    print(f"  flagged negative  {tp:17d}   {fp:14d}")
    print(f"  not flagged       {fn:17d}   {tn:14d}")
    print()
    print(f"  precision  {precision:.3f}")
    print(f"  recall     {recall:.3f}")
    print(f"  F1         {f1:.3f}")
    print(f"  MCC        {mcc:.3f}")
    print()
    for label in sorted(by_label):
        seen, flagged = by_label[label]
        print(f"  {label:10s} flagged {flagged:5d} of {seen:5d} ({flagged / seen:.1%})")


if __name__ == "__main__":
    main()
