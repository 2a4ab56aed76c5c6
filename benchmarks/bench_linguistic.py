"""Unigram vs BPE boundary F1 at equal vocab on the shipped Django strings (docs/research-linguistic.md).

Run: PYTHONPATH=src python benchmarks/bench_linguistic.py [LANG ...]   (default: ru tr)
Prints markdown rows: | lang | vocab | algorithm | P | R | F1 | %TR | %Pure |
"""

from __future__ import annotations

import sys

from tokenlab.evaluate.data import django_parallel
from tokenlab.evaluate.linguistic import analyser_for, unigram_vs_bpe


def main(langs):
    print("| lang | vocab | algorithm | P | R | F1 | %TR | %Pure |")
    print("|---|---|---|---|---|---|---|---|")
    for lang in langs:
        texts = django_parallel(["en", lang])[lang]
        for r in unigram_vs_bpe(texts, analyser_for(lang), vocab_sizes=(500, 1000, 2000)):
            print(f"| {lang} | {r['vocab_size']} | {r['algorithm']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                  f"{r['f1']:.3f} | {r['tr_percent']:.1f} | {r['pure_percent']:.1f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["ru", "tr"])
