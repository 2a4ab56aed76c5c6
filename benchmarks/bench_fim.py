"""Naive character-cut FIM vs FIM-SE on 500 stdlib functions, 2 random spans each (docs/research-formatters.md).

Run: PYTHONPATH=src python benchmarks/bench_fim.py
"""

import random

from tokenlab.evaluate.data import stdlib_code
from tokenlab.evaluate.report import reference_tokenizer
from tokenlab.evaluate.robustness import code_samples
from tokenlab.train.formatters import fim_example, naive_fim_ids

docs = code_samples(stdlib_code(1_000_000), max_samples=500)
for spec in ["cl100k", "tekken"]:
    tok = reference_tokenizer(spec)
    rng = random.Random(0)
    n = bad = exact = 0
    moved = {"line": [], "token": []}
    for d in docs:
        for _ in range(2):
            s, e = sorted((rng.randint(0, len(d)), rng.randint(0, len(d))))
            full = tok.encode_ordinary(d)
            p, m, q = naive_fim_ids(tok, d, s, e)
            n += 1
            bad += p + m + q != full
            for g in moved:
                ex = fim_example(tok, d, s, e, granularity=g)
                exact += ex.prefix_ids + ex.target_ids + ex.suffix_ids == full
                moved[g].append(len(ex.left) + len(ex.right))
    means = {g: round(sum(v) / len(v), 1) for g, v in moved.items()}
    print(f"{spec}: {n} spans, naive mismatch {bad / n:.1%}, FIM-SE exact {exact} of {2 * n}, moved chars {means}")
