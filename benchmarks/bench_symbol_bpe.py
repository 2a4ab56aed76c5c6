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

# ---- the same sequences through miditok's own BPE (pip install miditok): merges and held-out lengths
try:
    import miditok  # noqa: F401
except ImportError:
    raise SystemExit("miditok not installed: comparison skipped") from None
import random  # noqa: E402

from miditok import REMI, TokenizerConfig  # noqa: E402
from symusic import Note, Score, Track  # noqa: E402

from tokenlab.train.symbol_stream import compare_with_miditok  # noqa: E402


def table(name, train, test, sizes, base):
    print(f"\n{name}: {len(train)} + {len(test)} sequences, alphabet {base}")
    print("| vocab | merges (ours / miditok) | same merges, in order | held-out after / before: ours | miditok "
          "| train s: ours / miditok |")
    print("|---|---|---|---|---|---|")
    for v in sizes:
        r = compare_with_miditok(train, test, v, base_size=base)
        print(f"| {v} | {r['merges']} / {r['miditok_merges']} | {r['same_merges']} | {r['held_out_tokens']}/"
              f"{r['held_out_symbols']} = {r['held_out_tokens'] / r['held_out_symbols']:.3f} | "
              f"{r['miditok_held_out_tokens']}/{r['held_out_symbols']} | "
              f"{r['train_seconds']:.1f} / {r['miditok_train_seconds']:.1f} |")


table("Python tokenize events", train[:4000], test[:500], (128, 256, 512), tokenize.N_TOKENS + 10)


def melody(seed: int) -> Score:
    """A synthetic one-track score: four random motifs repeated and transposed (music repeats itself)."""
    r = random.Random(seed)
    score, track = Score(480), Track(program=0)
    motifs = [[(r.randint(55, 75), r.choice([240, 480, 960])) for _ in range(r.randint(3, 6))] for _ in range(4)]
    t = 0
    for _ in range(r.randint(8, 20)):
        shift = r.choice([0, 0, 2, -3, 5])
        for pitch, dur in r.choice(motifs):
            track.notes.append(Note(t, dur, pitch + shift, r.choice([64, 80, 96])))
            t += dur
    score.tracks.append(track)
    return score


remi = REMI(TokenizerConfig(encode_ids_split="no"))
shift = len(remi.special_tokens)
music = []
for i in range(300):
    seq = remi.encode(melody(i))
    music.append([x - shift for x in (seq[0] if isinstance(seq, list) else seq).ids])  # our symbols = REMI id - 4
table("REMI events of 300 synthetic melodies (miditok REMI)", music[:270], music[270:], (400, 600, 1000),
      len(remi._vocab_base) - shift)
