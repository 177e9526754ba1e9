#!/usr/bin/env python3
"""Metrics of frontdesk's `negative` flag against labelled posts.

    tools/eval.py DATA.jsonl DECISIONS.jsonl

DATA has one {"id", "text", "label", "domain"?} object a line; DECISIONS is
the output of `frontdesk replay --json DATA`, one decision a line echoing
"id".  Prints the confusion matrix of negative vs label == "negative",
precision, recall, F1 and MCC, the same per domain when posts carry one,
how often each label was flagged, and what the labelled-negative posts
got: a cheerful FAQ answer (action "answer": the target is at most 2 %),
the FAQ's facts with an apology (a `.negative` reply variant, handed over
too), or a hand-over.  Exits 1 if a post has no decision or a decision
cannot be read.
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


class Counts:
    def __init__(self):
        self.tp = self.fp = self.fn = self.tn = 0

    def add(self, flag, gold):
        if flag and gold:
            self.tp += 1
        elif flag:
            self.fp += 1
        elif gold:
            self.fn += 1
        else:
            self.tn += 1

    def n(self):
        return self.tp + self.fp + self.fn + self.tn

    def metrics(self):
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = (tp * tn - fp * fn) / den if den else 0.0
        return precision, recall, f1, mcc


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    data_path, dec_path = sys.argv[1], sys.argv[2]
    decided = {}
    for d in load_jsonl(dec_path):
        if "id" in d and "negative" in d:
            decided[str(d["id"])] = d
    total = Counts()
    domains = {}
    by_label = {}
    got = {"answer": 0, "apology": 0, "handover": 0, "other": 0}
    missing = 0
    for post in load_jsonl(data_path):
        pid = str(post.get("id"))
        if pid not in decided:
            missing += 1
            continue
        d = decided[pid]
        gold = post.get("label") == "negative"
        flag = bool(d["negative"])
        total.add(flag, gold)
        if "domain" in post:
            domains.setdefault(post["domain"], Counts()).add(flag, gold)
        label = post.get("label", "?")
        seen, flagged = by_label.get(label, (0, 0))
        by_label[label] = (seen + 1, flagged + flag)
        if gold:
            key = d.get("reply_key") or ""
            if d.get("action") == "answer":
                got["answer"] += 1
            elif d.get("action") == "escalate" and d.get("rule") and key.endswith(".negative"):
                got["apology"] += 1
            elif d.get("action") == "escalate":
                got["handover"] += 1
            else:
                got["other"] += 1
    n = total.n()
    if missing or n == 0:
        print(f"eval: {missing} posts without a decision, {n} decided", file=sys.stderr)
        sys.exit(1)
    precision, recall, f1, mcc = total.metrics()

    print(f"negative posts: {data_path} ({n} posts)")
    print()
    print("                    labelled negative   labelled other")
    print(f"  flagged negative  {total.tp:17d}   {total.fp:14d}")
    print(f"  not flagged       {total.fn:17d}   {total.tn:14d}")
    print()
    print(f"  precision  {precision:.3f}")
    print(f"  recall     {recall:.3f}")
    print(f"  F1         {f1:.3f}")
    print(f"  MCC        {mcc:.3f}")
    print()
    if domains:
        print("  per domain        posts  precision  recall     F1    MCC")
        for name in sorted(domains):
            c = domains[name]
            p, r, f, m = c.metrics()
            print(f"  {name:16s} {c.n():6d}      {p:.3f}   {r:.3f}  {f:.3f}  {m:.3f}")
        print()
    for label in sorted(by_label):
        seen, flagged = by_label[label]
        print(f"  {label:10s} flagged {flagged:5d} of {seen:5d} ({flagged / seen:.1%})")
    negatives = total.tp + total.fn
    if negatives:
        print()
        print(f"  labelled-negative posts ({negatives}) got:")
        print(f"    a cheerful FAQ answer        {got['answer']:5d} ({got['answer'] / negatives:.1%})")
        print(f"    the FAQ with an apology      {got['apology']:5d} ({got['apology'] / negatives:.1%})")
        print(f"    a hand-over                  {got['handover']:5d} ({got['handover'] / negatives:.1%})")
        if got["other"]:
            print(f"    something else               {got['other']:5d} ({got['other'] / negatives:.1%})")


if __name__ == "__main__":
    main()
