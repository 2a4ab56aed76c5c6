"""SentencePiece BPE / Unigram and WordPiece encode vs their reference libraries, one thread, ids checked equal.

- SentencePiece BPE: mistral-common's ``.model`` (v3: byte fallback, user-defined symbols) vs ``sentencepiece``.
- SentencePiece Unigram: a model trained here with sentencepiece's defaults (nmt_nfkc character map, byte
  fallback) on the multilingual corpus, vs ``sentencepiece``.
- WordPiece: all-MiniLM-L6-v2's BERT vocab vs ``BertTokenizerFast``'s Rust tokenizer (``encode`` per document).

``ours_mb_s`` is the best of ``repeat`` passes with one tokenizer (its word cache warm after the first pass,
as every peer keeps its own state; this is how every bench module here times). The notes give the cold
figure too: the first pass of a freshly loaded tokenizer, which pays for every new word. Per-stage: the
SentencePiece normalizer alone (``normalize``), and how many words came from the cache.

    python benchmarks/bench_models.py [--quick] [--only sp-bpe|sp-unigram|wordpiece] [--cpu] [--repeat N]

``--cpu`` times with this process's CPU time instead of the wall clock: on a box shared with other jobs the
wall clock of either side moves by tens of percent between runs, CPU time much less (one thread each side).
"""

from __future__ import annotations

import glob
import io
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
THREADS = (1,)
CORPORA = ("code", "multilingual", "adversarial")


REPEAT = 0  # --repeat N: passes per measurement (default 3, 2 with --quick)
CLOCK = time.perf_counter  # --cpu: time.process_time, this process's CPU time (other jobs on a shared box)


def _best(fn, docs, repeat: int) -> tuple[float, list]:
    """Best of ``repeat`` passes of ``fn`` over ``docs`` on CLOCK (bench_encode's timer)."""
    from bench_encode import _best_time

    return _best_time(lambda: [fn(d) for d in docs], repeat, clock=CLOCK)


def _mistral_model() -> str | None:
    try:
        import mistral_common
    except ImportError:
        return None
    found = sorted(glob.glob(os.path.join(os.path.dirname(mistral_common.__file__), "data", "*.model.v3")))
    return found[0] if found else None


def _train_unigram(budget: int) -> bytes:
    import corpora
    import sentencepiece as spm

    lines = [line for doc in corpora.multilingual(budget) for line in doc.split("\n") if line.strip()]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines[:20000]), model_writer=buf, vocab_size=8000,
                                   model_type="unigram", character_coverage=0.9995, minloglevel=2, num_threads=1,
                                   hard_vocab_limit=False, byte_fallback=True)
    return buf.getvalue()


def _sp_rows(label: str, load, ref, corpora_docs, repeat: int) -> list[dict]:
    rows = []
    for name, docs in corpora_docs.items():
        mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
        peer_s, want = _best(ref.encode, docs, repeat)
        cold_tok = load()
        cold_tok.encode_ordinary("")  # builds the compiled tables (load time, as sentencepiece's is not timed)
        cold_s, got_cold = _best(cold_tok.encode_ordinary, docs, 1)
        tok = load()
        ours_s, got = _best(tok.encode_ordinary, docs, repeat)
        kernel = tok._kernel
        notes = []
        same = got == want and got_cold == want
        notes.append("ids identical" if same else f"IDS DIFFER ({sum(a != b for a, b in zip(got, want))} docs)")
        notes.append(f"cold {mb / cold_s:.1f} MB/s ({peer_s / cold_s:.2f}x)")
        if kernel is not None:
            norm_s, _ = _best(kernel.normalize, docs, repeat)
            hits, misses, _, exact = kernel.cache_info()
            notes.append(f"normalize alone {mb / norm_s:.0f} MB/s")
            notes.append(f"words from cache {hits / max(1, hits + misses):.0%}")
            if exact:
                notes.append(f"{exact} word runs exact float32")
        else:
            notes.append("pure-Python path (kernel not built)")
        rows.append({"task": f"{label} {name}", "ours_mb_s": mb / ours_s, "peer": "sentencepiece",
                     "peer_mb_s": mb / peer_s, "ratio": peer_s / ours_s, "notes": "; ".join(notes)})
    return rows


def _wordpiece_rows(corpora_docs, repeat: int) -> list[dict]:
    from transformers import BertTokenizerFast

    from tokenlab.models.wordpiece import WordPieceTokenizer, minilm_vocab_path

    path = minilm_vocab_path()
    hf = BertTokenizerFast.from_pretrained(str(path.parent), local_files_only=True).backend_tokenizer
    hf.no_truncation()  # the model's tokenizer.json cuts at 128 tokens
    hf.no_padding()
    specials = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    rows = []
    for name, docs in corpora_docs.items():
        # BertTokenizerFast cuts "[MASK]" etc. out of text; tokenlab's encode_ordinary reads them as text
        docs = [d for d in docs if not any(s in d for s in specials)]
        mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
        peer_s, enc = _best(lambda d: hf.encode(d, add_special_tokens=False), docs, repeat)
        want = [e.ids for e in enc]
        cold_tok = WordPieceTokenizer.from_vocab_txt(path)
        cold_tok._chunking, cold_tok._unicode_words, cold_tok._prefixes  # noqa: B018 - build the tables (load time)
        cold_s, got_cold = _best(cold_tok.encode_ordinary, docs, 1)
        tok = WordPieceTokenizer.from_vocab_txt(path)
        ours_s, got = _best(tok.encode_ordinary, docs, repeat)
        same = got == want and got_cold == want
        notes = ["ids identical" if same else f"IDS DIFFER ({sum(a != b for a, b in zip(got, want))} docs)",
                 f"cold {mb / cold_s:.2f} MB/s ({peer_s / cold_s:.2f}x)", f"{len(tok._chunks)} chunks cached"]
        rows.append({"task": f"wordpiece minilm {name}", "ours_mb_s": mb / ours_s, "peer": "BertTokenizerFast",
                     "peer_mb_s": mb / peer_s, "ratio": peer_s / ours_s, "notes": "; ".join(notes)})
    return rows


def run(threads: int = 1, quick: bool = False, only: str | None = None) -> list[dict]:
    """All rows, or only those of one model family (``only``: "sp-bpe", "sp-unigram" or "wordpiece")."""
    import corpora

    budget, repeat = (60_000, 2) if quick else (300_000, 3)
    repeat = REPEAT or repeat
    docs = {name: corpora.build(name, budget) for name in CORPORA}
    rows: list[dict] = []
    try:
        import sentencepiece as spm
    except ImportError:
        return [{"task": "sentencepiece models", "notes": "sentencepiece not installed"}]
    from tokenlab.io.sentencepiece import parse_sentencepiece, read_sentencepiece

    if only in (None, "sp-bpe"):
        path = _mistral_model()
        if path:
            rows += _sp_rows("sp-bpe mistral-v3", lambda: read_sentencepiece(path),
                             spm.SentencePieceProcessor(model_file=path), docs, repeat)
        else:
            rows.append({"task": "sp-bpe mistral-v3", "notes": "mistral-common not installed"})
    if only in (None, "sp-unigram"):
        data = _train_unigram(budget * 2)
        rows += _sp_rows("sp-unigram trained", lambda: parse_sentencepiece(data),
                         spm.SentencePieceProcessor(model_proto=data), docs, repeat)
    if only in (None, "wordpiece"):
        try:
            rows += _wordpiece_rows(docs, repeat)
        except ImportError as exc:
            rows.append({"task": "wordpiece minilm", "notes": f"skipped: {exc}"})
    return rows

if __name__ == "__main__":
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    if "--cpu" in sys.argv:
        CLOCK = time.process_time
    if "--repeat" in sys.argv:
        REPEAT = int(sys.argv[sys.argv.index("--repeat") + 1])
    for row in run(1, quick="--quick" in sys.argv, only=only):
        if "ratio" not in row:
            print(f"{row['task']:36s} {row.get('notes', '')}")
            continue
        print(f"{row['task']:36s} ours {row['ours_mb_s']:7.1f} MB/s  {row['peer']:>17s} {row['peer_mb_s']:6.1f} MB/s"
              f"  ratio {row['ratio']:5.2f}x  {row['notes']}")
