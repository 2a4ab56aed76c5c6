"""Symbol-stream BPE on a shipped integer event stream (docs/research-symbol-bpe.md).

The stream: Python `tokenize` token types of the standard library, one sequence per logical line (a small
alphabet of event ids, like a symbolic-music tokenizer's output). Trained on 90%, measured on the rest.

Run: PYTHONPATH=src python benchmarks/bench_symbol_bpe.py
"""

import io
import tokenize

from tokenlab.evaluate.data import stdlib_code
from tokenlab.train.symbol_stream import train_symbol_bpe

seqs: list[list[int]] = []
for src in stdlib_code(600_000):
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError):
        continue
    line: list[int] = []
    for t in toks:
        line.append(t.exact_type)
        if t.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            seqs.append(line)
            line = []
train, test = seqs[: len(seqs) * 9 // 10], seqs[len(seqs) * 9 // 10:]
print(f"{len(seqs)} sequences, {sum(map(len, seqs))} events")
print("| vocab | merges | held-out length after / before |")
print("|---|---|---|")
for vocab in (128, 256, 512, 1024):
    model = train_symbol_bpe(train, vocab_size=vocab, base_size=tokenize.N_TOKENS + 10)
    before, after = sum(map(len, test)), sum(len(model.encode(s)) for s in test)
    assert all(model.decode(model.encode(s)) == s for s in test)
    print(f"| {vocab} | {len(model.merges)} | {after}/{before} = {after / before:.3f} |")
