"""Cross-tokenizer figures for docs/research-cross.md.

1. Alignment of cl100k and tekken on the Django strings and stdlib functions: chunks, share one-to-one.
2. Byte-level ensemble of two token-bigram LMs with different vocabularies (cl100k; a 2000-token BPE trained
   here), fitted on stdlib functions and scored on held-out ones: bits per byte of each model and of the
   mixture / average ensembles.

Run: PYTHONPATH=src python benchmarks/bench_cross.py
"""

import math

from tokenlab.evaluate.data import django_parallel, stdlib_code
from tokenlab.evaluate.report import reference_tokenizer
from tokenlab.evaluate.robustness import code_samples
from tokenlab.train.bpe import train_bpe
from tokenlab.transfer.byte_probs import ByteLevelModel
from tokenlab.transfer.cross import BigramLM, ByteEnsemble, align_tokenizations

cl100k, tekken = reference_tokenizer("cl100k"), reference_tokenizer("tekken")
code = code_samples(stdlib_code(2_000_000), max_samples=420)
corpora = {**django_parallel(["en", "de", "ru", "ja"]), "code": code[:200]}
print("| corpus | chunks | one-to-one | cl100k tokens/chunk | tekken tokens/chunk |")
print("|---|---|---|---|---|")
for name, texts in corpora.items():
    spans = [s for t in texts for s in align_tokenizations(cl100k, tekken, t)]
    n = len(spans)
    print(f"| {name} | {n} | {sum(s.one_to_one for s in spans) / n:.1%} | "
          f"{sum(s.a[1] - s.a[0] for s in spans) / n:.2f} | {sum(s.b[1] - s.b[0] for s in spans) / n:.2f} |")

train, held = code[:400], code[400:420]
bpe = train_bpe(train, vocab_size=2000, pretokenizer="gpt2", progress=False)
models = {"cl100k bigram": ByteLevelModel(BigramLM(cl100k, train), cl100k, valid_only=True),
          "bpe-2000 bigram": ByteLevelModel(BigramLM(bpe, train), bpe, valid_only=True)}
pair = list(models.values())
models["mixture (0.5/0.5)"] = ByteEnsemble(pair, mode="mixture")
models["average (0.5/0.5)"] = ByteEnsemble(pair, mode="average")
data = [t.encode("utf-8")[:300] for t in held]
total = sum(map(len, data))
print(f"\nheld-out: {len(data)} functions, first 300 bytes each, {total} bytes")
print("| model | bits/byte |")
print("|---|---|")
for name, m in models.items():
    nll = -sum(m.byte_logprob(d) for d in data)
    print(f"| {name} | {nll / total / math.log(2):.3f} |", flush=True)
