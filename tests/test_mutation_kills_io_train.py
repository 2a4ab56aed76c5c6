"""Tests written for mutants of train/bpe.py, io/hf_json.py, models/sentencepiece.py and pretokenize.py that the
rest of the suite let survive (see docs/testing.md, "Mutation testing"). Each checks behaviour against an
independent expectation: a plain count, a full recount, HF ``tokenizers``, sentencepiece, or a hand-worked case."""

from __future__ import annotations

import json
import sys
import threading
import types
from collections import Counter

import pytest
from test_mutation_kills_sp import TRAIN_DOCS, _hf_merges

from tokenlab.errors import InvalidInputError


def _plain_count(docs, pre) -> Counter:
    want: Counter = Counter()
    for doc in docs:
        want.update(p.encode("utf-8") for p in pre.split(doc))
    return want


def _no_numba_counter(monkeypatch, calls=None):
    """Make the numba counter unavailable (without importing numba), recording who asked for it."""
    def unavailable(pre):
        if calls is not None:
            calls.append(("numba", pre))
        return None
    monkeypatch.setitem(sys.modules, "tokenlab.train._count", types.SimpleNamespace(native_counter=unavailable))


# ---------------------------------------------------------------------------------------------- train/bpe.py


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k", "o200k", "whitespace", "tekken"])
def test_native_counting_needs_only_the_c_kernels(monkeypatch, pattern):
    """Every named state machine (gpt2, cl100k, o200k, whitespace, tekken) counts on the C kernels alone: with the
    numba counter unavailable, ``native=True`` still works and equals a plain regex count."""
    import tokenlab.kernels
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    if tokenlab.kernels.train is None:
        pytest.skip("the C kernels are not built")
    _no_numba_counter(monkeypatch)
    pre = PreTokenizer(pattern)
    docs = TRAIN_DOCS + ["I'LL don't 1234567 ...!!!\r\n\t x"]
    counter = bpe._make_counter(pre, native=True)
    assert counter(docs) == _plain_count(docs, pre)
    assert getattr(counter, "releases_gil", False)  # the compiled counter, not the regex
    assert bpe.count_pretokens(docs, pre, workers=1, native=True) == _plain_count(docs, pre)


def test_a_compiled_counter_that_disagrees_on_the_probe_is_not_used(monkeypatch):
    """The compiled counter is checked against the regex on a probe text before use: one that counts wrong is
    dropped for the regex (and ``native=True`` then has nothing to run)."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    pre = PreTokenizer("gpt2")

    def wrong_counter(_pre):
        def count(docs):
            return {k: 2 * v for k, v in _plain_count(docs, pre).items()}  # every count doubled
        return count
    monkeypatch.setattr(bpe, "c_counter", wrong_counter)
    _no_numba_counter(monkeypatch)
    counter = bpe._make_counter(pre)
    assert counter(TRAIN_DOCS) == _plain_count(TRAIN_DOCS, pre)
    assert not getattr(counter, "releases_gil", False)
    with pytest.raises(InvalidInputError, match="^no native pre-tokenizer for 'gpt2'"):
        bpe._make_counter(pre, native=True)


def test_native_false_never_builds_a_compiled_counter(monkeypatch):
    """``native=False`` means ``PreTokenizer.split`` only, on every path: in-process, threads/processes, and the
    tasks ``map_fn`` runs."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    calls: list = []

    def recording_c_counter(pre):
        calls.append(("c", pre))
        raise RuntimeError("a compiled counter was asked for")
    monkeypatch.setattr(bpe, "c_counter", recording_c_counter)
    _no_numba_counter(monkeypatch, calls)
    monkeypatch.setattr(bpe, "_TASK_COUNTERS", {})
    pre = PreTokenizer("gpt2", split_digits=3)
    docs = TRAIN_DOCS * 2
    want = _plain_count(docs, pre)
    assert bpe.count_pretokens(docs, pre, native=False, map_fn=lambda fn, parts: map(fn, parts),
                               batch_chars=100) == want
    assert bpe.count_pretokens(docs, pre, native=False, workers=1) == want
    assert calls == []
    assert bpe.count_pretokens(docs, pre, map_fn=lambda fn, parts: map(fn, parts)) == want  # native=None asks
    assert calls


def test_batches_in_flight_are_at_most_two_per_worker(monkeypatch):
    """Threaded counting keeps a bounded window of batches in flight (memory stays flat on a large corpus): never
    more than two per worker, and more than one per worker so none waits; results are added in batch order."""
    import concurrent.futures

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    pre = PreTokenizer("gpt2")
    if bpe.c_counter(pre) is None:
        pytest.skip("the C kernels are not built")
    in_flight: set = set()
    peak = [0]
    order: list = []

    class Job:
        def __init__(self, value):
            self.value = value

        def result(self):
            in_flight.discard(self)
            order.append(self.value[0])
            return self.value[1]

    class Executor:  # runs each batch at once, but tracks how many results are not collected yet
        def __init__(self, workers):
            self.workers = workers

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, batch):
            job = Job((batch[0], fn(batch)))
            in_flight.add(job)
            peak[0] = max(peak[0], len(in_flight))
            return job
    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", Executor)
    docs = [f"doc {i} " + "abc def " * 20 for i in range(40)]
    for workers in (2, 3):
        peak[0] = 0
        order.clear()
        assert bpe.count_pretokens(docs, pre, workers=workers, batch_chars=1) == _plain_count(docs, pre)
        assert workers < peak[0] <= 2 * workers
        assert order == docs  # one document per batch, collected in order


def test_process_pool_without_fork_spawns_workers_that_set_up_their_counter(monkeypatch):
    """Where ``fork`` is missing (Windows, macOS' default), the regex counter runs in a ``spawn`` pool, whose
    workers inherit nothing: each builds its counter in the initializer."""
    import multiprocessing

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn", "forkserver"])
    pre = PreTokenizer(r"\w+|\W+")  # no state machine: the regex counter, in processes
    docs = ["abc def, ghi " * 30, "x y z " * 40, "Größe 東京 12 " * 10]
    assert bpe.count_pretokens(docs, pre, workers=2, batch_chars=50) == _plain_count(docs, pre)


def test_merging_a_chosen_pair_then_continuing_follows_a_recount():
    """``BPETrainer.merge`` of a pair that is not the best one (a pair of one's choice) leaves the trainer
    consistent: every later step still takes the most frequent pair of a full recount, until none is left."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import BPETrainer, count_pretokens

    counts = count_pretokens(TRAIN_DOCS, PreTokenizer("gpt2"), workers=1)
    trainer = BPETrainer(counts)

    def recount():
        out: Counter = Counter()
        for w, c in zip(trainer.words, trainer.counts):
            for p in zip(w, w[1:]):
                out[p] += c
        return out
    first = recount()
    rare = min(first, key=lambda p: (first[p], p))
    assert first[rare] < max(first.values())
    trainer.merge(rare)
    assert rare not in recount()
    steps = 0
    while True:
        want = recount()
        got = trainer.best_pair()
        if not want:
            assert got is None
            break
        assert got is not None and got[1] == want[got[0]] == max(want.values())
        trainer.merge(got[0])
        steps += 1
    assert steps > 20


def test_native_false_runs_the_plain_python_merge_loop(monkeypatch):
    """``native=False`` runs the merge loop as plain Python even where numba is installed (no JIT compile): the
    compiled loop is never called, and the merges equal HF's."""
    import tokenlab.kernels
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import _native
    from tokenlab.train.bpe import count_pretokens, train_from_counts

    pre = PreTokenizer("gpt2")
    counts = count_pretokens(TRAIN_DOCS, pre, workers=1)

    class CompiledLoop:
        py_func = staticmethod(getattr(_native.train_merges, "py_func", _native.train_merges))

        def __call__(self, *args):
            raise AssertionError("the compiled merge loop ran")
    monkeypatch.setattr(tokenlab.kernels, "train", None)
    monkeypatch.setattr(_native, "HAVE_NUMBA", True)
    monkeypatch.setattr(_native, "train_merges", CompiledLoop())
    assert train_from_counts(counts, 300, pre, native=False).merges == _hf_merges(TRAIN_DOCS, 300)


def test_the_merge_loop_is_c_then_numba_then_python(monkeypatch):
    """Which merge loop runs (the module's contract): the C loop when it is built, unless ``native=False``; else the
    numba-compiled loop when numba is there (``native=None`` or ``True``); else, or with ``native=False``, the plain
    Python loop (without numba ``train_merges`` is that plain function itself); ``native=True`` without either is an
    error. Every one gives HF's merges."""
    import tokenlab.kernels
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import _native, bpe

    if tokenlab.kernels.train is None:
        pytest.skip("the C kernels are not built")
    pre = PreTokenizer("gpt2")
    counts = bpe.count_pretokens(TRAIN_DOCS, pre, workers=1)
    want = _hf_merges(TRAIN_DOCS, 300)
    ran: list[str] = []
    c_kernels = tokenlab.kernels.train
    c_loop = bpe._c_train_merges
    python_loop = getattr(_native.train_merges, "py_func", _native.train_merges)

    def recording_c(*args):
        ran.append("c")
        return c_loop(*args)

    class CompiledLoop:  # stands in for the numba dispatcher (runs the same Python, without compiling)
        def __call__(self, *args):
            ran.append("train_merges")
            return python_loop(*args)

        @staticmethod
        def py_func(*args):
            ran.append("python")
            return python_loop(*args)
    monkeypatch.setattr(bpe, "_c_train_merges", recording_c)
    monkeypatch.setattr(_native, "train_merges", CompiledLoop())
    monkeypatch.setattr(_native, "HAVE_NUMBA", True)
    cases = [(True, True, None, "c"), (True, True, True, "c"), (True, True, False, "python"),
             (False, True, None, "train_merges"), (False, True, True, "train_merges"), (False, True, False, "python"),
             (False, False, None, "train_merges"), (False, False, False, "train_merges")]
    for c_built, numba, native, loop in cases:
        monkeypatch.setattr(tokenlab.kernels, "train", c_kernels if c_built else None)
        monkeypatch.setattr(_native, "HAVE_NUMBA", numba)
        ran.clear()
        assert bpe.train_from_counts(counts, 300, pre, native=native).merges == want
        assert ran == [loop], (c_built, numba, native)
    with pytest.raises(InvalidInputError, match=r"^native=True needs the C kernel or numba \(pip install "
                                                r"'tokenlab\[fast\]'\)$"):
        bpe.train_from_counts(counts, 300, pre, native=True)


def test_an_interrupted_merge_progress_leaves_no_thread_that_blocks_exit(monkeypatch):
    """With a progress bar the merge loop runs in a thread. If the caller is interrupted (Ctrl-C while the bar
    polls), that thread must not keep the interpreter from exiting: it is a daemon thread."""
    from tokenlab.train import bpe

    release = threading.Event()

    class Bar:
        n = 0

        def __init__(self, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, k):
            raise KeyboardInterrupt

    def kernel(counter):
        release.wait(10)
        return "done"
    monkeypatch.setattr(bpe, "tqdm", Bar)
    before = set(threading.enumerate())
    try:
        with pytest.raises(KeyboardInterrupt):
            bpe._run_with_progress(kernel, (), 1, progress=True)
        started = [t for t in threading.enumerate() if t not in before]
        assert started and all(t.daemon for t in started)
    finally:
        release.set()
    for t in started:
        t.join(5)


def test_merge_progress_is_shown_when_asked_for_off_a_terminal(capsys, monkeypatch):
    """``progress=True`` shows the merging bar also where stderr is not a terminal (a log file, CI, capsys), as
    the pre-tokenizing bar does; ``progress=False`` shows nothing."""
    from tqdm.std import tqdm

    from tokenlab.train.bpe import train_bpe

    monkeypatch.setattr(tqdm, "monitor_interval", 0)  # no monitor thread (a later fork would inherit its lock)
    tok = train_bpe(TRAIN_DOCS, 300, workers=1, progress=True)
    err = capsys.readouterr().err
    assert "merging" in err and f"{len(tok.merges)}/{300 - 256}" in err and "pre-tokenizing" in err
    train_bpe(TRAIN_DOCS, 300, workers=1, progress=False)
    assert capsys.readouterr().err == ""


def test_a_process_pool_has_as_many_processes_as_workers(monkeypatch):
    import os

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    sizes = []
    real_pool = bpe._pool

    def recording(workers, initializer, initargs):
        pool = real_pool(workers, initializer, initargs)
        sizes.append(pool._max_workers)
        return pool
    monkeypatch.setattr(bpe, "_pool", recording)
    monkeypatch.setattr(os, "cpu_count", lambda: 5)  # a pool of "all cores" would have 5
    pre = PreTokenizer(r"\w+|\W+")  # the regex counter: processes
    docs = ["abc def " * 30] * 6
    assert bpe.count_pretokens(docs, pre, workers=2, batch_chars=100) == _plain_count(docs, pre)
    assert sizes == [2]


def test_merge_tables_are_sized_by_the_pairs_there_are(monkeypatch):
    """Every merge removes a symbol, so a run makes at most as many merges as the words have pairs: the loop is
    asked for that many (not for a vocab_size of 10**9), and a corpus whose node count does not fit the loop's int32
    node ids is refused."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    asked = []
    real = bpe._run_with_progress

    def recording(kernel, args, total, progress):
        asked.append((args[5], total))
        return real(kernel, args, total, progress)
    monkeypatch.setattr(bpe, "_run_with_progress", recording)
    counts = {b"abcab": 3, b"x": 9, b"bc": 2, b"\xff\xfe": 1}
    pairs = sum(len(w) - 1 for w in counts)
    for vocab_size, specials, want in ((10**9, [], pairs), (256 + 3, [], 3), (256 + 3, ["<s>"], 2)):
        tok = bpe.train_from_counts(counts, vocab_size, PreTokenizer("gpt2"), special_tokens=specials)
        assert asked[-1] == (want, want) and len(tok.merges) <= want

    class Huge:  # a word as long as the int32 node ids allow (only its length is real: nothing is allocated)
        def __len__(self):
            return 2**31 - 1
    with pytest.raises(InvalidInputError, match=r"^too many distinct pretoken bytes for the trainer \(over 2\*\*31\)$"):
        bpe.train_from_counts({Huge(): 1}, 300, PreTokenizer("gpt2"))


# ---------------------------------------------------------------------------------------------- io/hf_json.py

HF_TEXTS = ["Hello world, it's 2024-06-01: 1234567 apples.", "  spaces\tand\nnewlines\r\n", "Größe 東京 🤖 ｆｕｌｌ",
            "<s>x</s> a<s>b", "don't I'LL 0010 12 3"]


HF_TRAIN = TRAIN_DOCS + [t for t in HF_TEXTS if "<" not in t]  # no special token's text: see the refusal test


def _hf_module():
    return pytest.importorskip("tokenizers")


def _trained(pattern="gpt2", split_digits=None, specials=("<s>", "</s>"), vocab_size=330):
    from tokenlab.train.bpe import train_bpe

    return train_bpe(HF_TRAIN, vocab_size, pretokenizer=pattern, split_digits=split_digits,
                     special_tokens=specials, workers=1)


def _hf_reference_json(tok, tokenizers) -> dict:
    """What HF itself writes for ``tok``: a tokenizers.Tokenizer built from its parts through HF's API."""
    from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers

    from tokenlab.io.hf_json import to_byte_level

    vocab = {to_byte_level(t): i for t, i in tok.vocab.items()}
    vocab.update(tok.special_tokens)  # specials in the model vocab too, at their ids (HF would renumber them)
    merges = [(to_byte_level(a), to_byte_level(b)) for a, b in tok.merges]
    hf = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=tok.ignore_merges))
    steps = []
    if tok.pretokenizer.split_digits:
        steps.append(pre_tokenizers.Split(Regex(rf"\p{{N}}{{1,{tok.pretokenizer.split_digits}}}"), "isolated"))
    if tok.pretokenizer.regex_str is not None:
        from tokenlab.io.hf_json import to_oniguruma

        steps.append(pre_tokenizers.Split(Regex(to_oniguruma(tok.pretokenizer.regex_str)), "isolated"))
    steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    hf.pre_tokenizer = pre_tokenizers.Sequence(steps)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in tok.special_tokens])
    d = json.loads(hf.to_str())
    d["model"]["merges"] = [" ".join(m) for m in d["model"]["merges"]]  # HF writes pairs; "a b" is the same
    return d


@pytest.mark.parametrize("pattern,split_digits", [("gpt2", None), ("cl100k", 3), (r"\p{L}+|\p{N}{1,2}+|.", None),
                                                  (None, None)])
def test_hf_export_is_the_file_hf_writes_and_encodes_alike(pattern, split_digits, tmp_path):
    """``to_hf_dict`` equals the tokenizer.json HF writes for the same vocabulary, merges, pre-tokenizer and
    specials; HF loading it encodes and decodes like tokenlab; tokenlab reads it back as the compiled tokenizer."""
    tokenizers = _hf_module()
    from tokenlab.io.hf_json import read_hf_json, to_hf_dict, write_hf_json
    from tokenlab.tokenizer import Tokenizer

    tok = _trained(pattern, split_digits)
    d = to_hf_dict(tok)
    ref = _hf_reference_json(tok, tokenizers)
    assert d == ref
    assert list(d["model"]["vocab"]) == list(ref["model"]["vocab"])  # in id order, as HF writes it
    path = tmp_path / "tokenizer.json"
    write_hf_json(tok, path)
    text = path.read_text(encoding="utf-8")
    assert "\\u" not in text and "Ġ" in text  # UTF-8 as HF writes it, not \\u escapes
    # pretty-printed, one vocab entry a line, as HF's Tokenizer.save writes it (readable diffs)
    tokenizers.Tokenizer.from_str(json.dumps(ref)).save(str(tmp_path / "hf.json"))
    assert text.count("\n") > len(tok.vocab) and (tmp_path / "hf.json").read_text().count("\n") > len(tok.vocab)
    assert json.loads(text) == d
    hf = tokenizers.Tokenizer.from_file(str(path))
    back = read_hf_json(path)
    assert type(back) is Tokenizer and back.vocab == tok.vocab and back.merges == tok.merges
    assert back.special_tokens == tok.special_tokens
    # a custom regex comes back in its Oniguruma spelling (an atomic group for a possessive interval): same splits
    assert back.pretokenizer == tok.pretokenizer or pattern not in (None, "gpt2", "cl100k")
    assert all(back.pretokenizer.split(t) == tok.pretokenizer.split(t) for t in HF_TEXTS)
    for t in HF_TEXTS:
        ids = tok.encode(t, allowed_special="all")
        assert hf.encode(t, add_special_tokens=False).ids == ids == back.encode(t, allowed_special="all")
        assert hf.decode(ids, skip_special_tokens=False) == tok.decode(ids)


def test_hf_export_of_ignore_merges_and_specials_between_ids():
    """``ignore_merges`` is written (HF then keeps a whole-vocabulary piece whole), and a special token whose id
    lies before ordinary ids keeps its id in HF (it is in the model vocab too)."""
    tokenizers = _hf_module()
    from tokenlab.io.hf_json import to_hf_dict
    from tokenlab.tokenizer import Tokenizer

    base = _trained(specials=())
    # a vocab in which "hello" is a token but not reachable by the merges alone
    vocab = dict(base.vocab)
    n = len(vocab)
    vocab[b" hello"] = n + 1  # id n is the special token, before this ordinary id
    for ignore in (False, True):
        tok = Tokenizer(vocab=vocab, merges=base.merges, pretokenizer=base.pretokenizer, special_tokens={"<x>": n},
                        ignore_merges=ignore)
        d = to_hf_dict(tok)
        assert d["model"]["ignore_merges"] is ignore and d["model"]["vocab"]["<x>"] == n
        hf = tokenizers.Tokenizer.from_str(json.dumps(d))
        assert d == _hf_reference_json(tok, tokenizers)
        for t in ["say hello<x> hello", "<x><x>"]:
            assert hf.encode(t, add_special_tokens=False).ids == tok.encode(t, allowed_special="all")
        assert (tok.vocab[b" hello"] in tok.encode(" hello")) is ignore
        assert hf.token_to_id("<x>") == n


def test_to_oniguruma_keeps_possessive_intervals_for_hf():
    """Oniguruma reads ``X{1,3}+`` as a repeated group; the rewrite makes HF split like the ``regex`` module."""
    _hf_module()
    import regex
    from tokenizers import Regex, pre_tokenizers

    from tokenlab.io.hf_json import to_oniguruma

    text = "0010 12345 aaaa [x]]] \\p 99"
    for rx in [r"\p{N}{1,3}+|\s+|\D", r"[0-9]{2}+|.", r"a{2,}+|.", r"\]{1,2}+|[^\]]", r"\d{2,3}+|.", r"\w+|\W"]:
        want = regex.findall(rx, text)
        split = pre_tokenizers.Split(Regex(to_oniguruma(rx)), "isolated")
        assert [p for p, _ in split.pre_tokenize_str(text)] == want, rx
    assert to_oniguruma(r"\p{N}{1,3}+") == r"(?>\p{N}{1,3})"
    assert to_oniguruma(r"a+b{2}c") == r"a+b{2}c"  # nothing possessive: unchanged


def test_byte_level_characters_round_trip_and_errors():
    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import from_byte_level, to_byte_level

    data = bytes(range(256))
    assert from_byte_level(to_byte_level(data)) == data
    assert to_byte_level(b" a\n") == "ĠaĊ"  # GPT-2's byte characters
    with pytest.raises(FormatError, match=r"^token 'a€' has a character outside the byte-level alphabet: '€'$"):
        from_byte_level("a€")


def _hf_file(tokenizers, pre_tokenizer, docs=None, specials=("<s>",), decoder=True):
    from tokenizers import decoders, models, pre_tokenizers, trainers

    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizer
    if decoder:
        hf.decoder = decoders.ByteLevel()
    hf.train_from_iterator(docs or HF_TRAIN * 2, trainers.BpeTrainer(
        vocab_size=400, special_tokens=list(specials), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return hf


def _hf_pre_tokenizers(tokenizers):
    from tokenizers import Regex
    from tokenizers import pre_tokenizers as pt

    from tokenlab.io.hf_json import to_oniguruma
    from tokenlab.pretokenize import PATTERNS

    bl = pt.ByteLevel(add_prefix_space=False, use_regex=False)
    cl = to_oniguruma(PATTERNS["cl100k"])
    return {  # name -> (HF pre-tokenizer, the PreTokenizer the compiled path must read, or None: the pipeline)
        "bytelevel": (pt.ByteLevel(add_prefix_space=False), ("gpt2", None)),
        "cl100k": (pt.Sequence([pt.Split(Regex(cl), "isolated"), bl]), ("cl100k", None)),
        "cl100k raw": (pt.Sequence([pt.Split(Regex(PATTERNS["cl100k"]), "isolated"), bl]), ("cl100k", None)),
        "gpt2 split": (pt.Sequence([pt.Split(Regex(PATTERNS["gpt2"]), "isolated"), bl]), ("gpt2", None)),
        "digits3": (pt.Sequence([pt.Split(Regex(r"\p{N}{1,3}"), "isolated"), pt.Split(Regex(cl), "isolated"), bl]),
                    ("cl100k", 3)),
        "digits": (pt.Sequence([pt.Digits(individual_digits=True), pt.ByteLevel(add_prefix_space=False)]),
                   ("gpt2", 1)),
        "custom": (pt.Sequence([pt.Split(Regex(r"\w+|\W"), "isolated"), bl]), (r"\w+|\W", None)),
        "bytes only": (bl, (None, None)),
        "prefix space": (pt.ByteLevel(add_prefix_space=True), None),
        "digits grouped": (pt.Sequence([pt.Digits(individual_digits=False), pt.ByteLevel(add_prefix_space=False)]),
                           None),
        "removed": (pt.Sequence([pt.Split(Regex(r"\s"), "removed"), bl]), None),
        "inverted": (pt.Sequence([pt.Split(Regex(r"\w+|\W"), "isolated", invert=True), bl]), None),
        "string split": (pt.Sequence([pt.Split(" ", "isolated"), bl]), None),
        "two splits": (pt.Sequence([pt.Split(Regex(r"\w+|\W"), "isolated"), pt.Split(Regex(r"\S+|\s"), "isolated"),
                                    bl]), None),
        "split then bytelevel regex": (pt.Sequence([pt.Split(Regex(r"\w+|\W"), "isolated"),
                                                    pt.ByteLevel(add_prefix_space=False)]), None),
        "digits after the regex": (pt.Sequence([pt.Split(Regex(cl), "isolated"),
                                                pt.Split(Regex(r"\p{N}{1,3}"), "isolated"), bl]), None),
        "whitespace": (pt.Sequence([pt.WhitespaceSplit(), bl]), None),
        "no bytelevel": (pt.Split(Regex(r"\w+|\W"), "isolated"), None),
    }


TWO = r"two regex splits in pre_tokenizer are not supported"
REFUSED_PRE_TOKENIZERS = {  # why the compiled path refuses each (the pipeline reads them)
    "prefix space": r"ByteLevel add_prefix_space=true is not supported",
    "digits grouped": r"Digits\(individual_digits=false\) is not supported",
    "removed": r"Split behavior 'Removed' is not supported \(Isolated only\)",
    "inverted": r"Split behavior 'Isolated' is not supported \(Isolated only\)",
    "string split": r"Split with a plain string pattern is not supported",
    "two splits": TWO, "split then bytelevel regex": TWO, "digits after the regex": TWO,
    "whitespace": r"pre-tokenizer 'WhitespaceSplit' is not supported",
    "no bytelevel": r"not a byte-level tokenizer \(no ByteLevel pre-tokenizer\)",
}


@pytest.mark.parametrize("name", ["bytelevel", "cl100k", "cl100k raw", "gpt2 split", "digits3", "digits", "custom",
                                  "bytes only", "prefix space", "digits grouped", "removed", "inverted",
                                  "string split", "two splits", "split then bytelevel regex",
                                  "digits after the regex", "whitespace", "no bytelevel"])
def test_hf_written_files_read_like_hf(name):
    """Files HF writes with each pre-tokenizer: those the compiled byte-level BPE can follow exactly load as a
    ``Tokenizer`` with that pre-tokenizer; the others go to the component pipeline. Ids equal HF's either way."""
    tokenizers = _hf_module()
    from tokenlab.io.hf_json import from_hf_dict
    from tokenlab.pipeline import PipelineTokenizer
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    pre, want = _hf_pre_tokenizers(tokenizers)[name]
    hf = _hf_file(tokenizers, pre)
    d = json.loads(hf.to_str())
    ours = from_hf_dict(d)
    if want is None:
        assert isinstance(ours, PipelineTokenizer)
        from tokenlab.errors import FormatError
        from tokenlab.io.hf_json import _special_path

        with pytest.raises(FormatError, match=f"^{REFUSED_PRE_TOKENIZERS[name]}$"):
            _special_path(d)
    else:
        assert type(ours) is Tokenizer and ours.pretokenizer == PreTokenizer(*want)
        assert ours.special_tokens == {"<s>": 0}
    assert isinstance(from_hf_dict(d, pipeline=True), PipelineTokenizer)
    if name == "cl100k raw":
        # HF's Oniguruma reads tiktoken's possessive "\p{N}{1,3}+" as "(\p{N}{1,3})+" (digit runs glued); tokenlab
        # reads the pattern with tiktoken's meaning, as the `regex` module does
        assert ours.encode("x 1234567") != hf.encode("x 1234567").ids
        return
    for t in HF_TEXTS:
        assert ours.encode(t, allowed_special="all") == hf.encode(t).ids, t



def test_hf_export_refuses_a_special_token_hf_would_give_another_id(tmp_path):
    """A special token whose text is also an ordinary token's (a byte-level BPE trained without pre-tokenizing on
    text that holds ``<s>``): HF would give the added token the ordinary id, so the export is refused."""
    tokenizers = _hf_module()
    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import write_hf_json
    from tokenlab.tokenizer import Tokenizer
    from tokenlab.train.bpe import train_bpe

    tok = train_bpe(HF_TRAIN + ["<s>x</s> a<s>b"] * 5, 330, pretokenizer=None, special_tokens=["<s>"], workers=1)
    ordinary = tok.vocab[b"<s>"]
    assert ordinary != tok.special_tokens["<s>"]
    hf_base = tokenizers.Tokenizer.from_str(json.dumps(_hf_reference_json(Tokenizer(
        vocab=tok.vocab, merges=tok.merges, pretokenizer=tok.pretokenizer), tokenizers)))
    hf_base.add_special_tokens([tokenizers.AddedToken("<s>", special=True, normalized=False)])
    assert hf_base.token_to_id("<s>") == ordinary  # what HF would do with the special token
    with pytest.raises(FormatError, match=rf"^special token '<s>' \(id {tok.special_tokens['<s>']}\) has the text of "
                                          rf"ordinary token {ordinary}; HF would give it that id, so the export would "
                                          "change ids$"):
        write_hf_json(tok, tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def _hf_gpt2_file(tokenizers, **kwargs) -> tuple:
    from tokenizers import pre_tokenizers

    hf = _hf_file(tokenizers, pre_tokenizers.ByteLevel(add_prefix_space=False), **kwargs)
    return hf, json.loads(hf.to_str())


def _refusal(d, message):
    """The compiled path refuses ``d`` with ``message``; ``from_hf_dict`` then reads it with the pipeline."""
    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import _special_path, from_hf_dict
    from tokenlab.pipeline import PipelineTokenizer

    with pytest.raises(FormatError, match=message):
        _special_path(d)
    return from_hf_dict(d), PipelineTokenizer


def test_files_the_compiled_path_cannot_follow_go_to_the_pipeline_like_hf():
    """Each feature the compiled byte-level BPE lacks sends the file to the pipeline (ids still HF's), and the
    compiled path says which feature it was."""
    tokenizers = _hf_module()
    import copy

    hf, base = _hf_gpt2_file(tokenizers)
    cases = [
        (lambda d: d["added_tokens"][0].update(lstrip=True), r"^added token with lstrip/rstrip/single_word$"),
        (lambda d: d["added_tokens"][0].update(rstrip=True), r"^added token with lstrip/rstrip/single_word$"),
        (lambda d: d["added_tokens"][0].update(single_word=True), r"^added token with lstrip/rstrip/single_word$"),
        (lambda d: d.update(normalizer={"type": "Lowercase"}), r"^normalizer 'Lowercase' is not supported$"),
        (lambda d: d["model"].update(dropout=0.5), r"^BPE with dropout/unk_token is not the compiled byte-level "
                                                   r"BPE$"),
        (lambda d: d["model"].update(unk_token="<s>"), "^BPE with dropout/unk_token is not the compiled"),
        (lambda d: d["model"].update(unk_token=""), "^BPE with dropout/unk_token is not the compiled"),
        # byte fallback is the Metaspace (Llama) family's: its reader refuses GPT-2's byte symbols
        (lambda d: d["model"].update(byte_fallback=True), r"^pre-tokenizer \['ByteLevel'\] is not supported with a "
                                                          r"Metaspace model$"),
        (lambda d: d.update(model={"type": "WordLevel", "vocab": d["model"]["vocab"], "unk_token": "<s>"}),
         r"^model type 'WordLevel' is not BPE$"),
        (lambda d: d["model"].update(continuing_subword_prefix="##"), r"^BPE with subword prefix/suffix is not "
                                                                      r"byte-level$"),
        (lambda d: d["model"].update(end_of_word_suffix="</w>"), "^BPE with subword prefix/suffix is not byte-level$"),
        (lambda d: d.update(decoder={"type": "Fuse"}), "^decoder other than ByteLevel$"),
        (lambda d: d.update(pre_tokenizer=None), r"^tokenizer.json has no pre_tokenizer; tokenlab reads byte-level BPE "
                                                 r"only$"),
        (lambda d: d["added_tokens"].append({"id": len(d["model"]["vocab"]), "content": "hello", "single_word": False,
                                             "lstrip": False, "rstrip": False, "normalized": True, "special": False}),
         "^normalized added tokens$"),
    ]
    from tokenlab.errors import FormatError

    for change, message in cases:
        d = copy.deepcopy(base)
        change(d)
        if d["model"].get("continuing_subword_prefix") or d["model"].get("end_of_word_suffix"):
            # these merges have no "##"/"</w>" forms in the vocab: HF cannot encode with them either
            from tokenlab.io.hf_json import _special_path

            with pytest.raises(FormatError, match=message):
                _special_path(d)
            continue
        ours, pipeline_type = _refusal(d, message)
        assert isinstance(ours, pipeline_type), message
        if d["model"].get("dropout"):
            continue  # random in HF
        ref = tokenizers.Tokenizer.from_str(json.dumps(d))
        for t in HF_TEXTS:
            assert ours.encode(t, allowed_special="all") == ref.encode(t).ids, (message, t)


def test_compiled_path_defaults_and_accepted_variants_equal_hf():
    """Fields HF lets a file leave out (model type, decoder, added tokens' flags) and accepted variants (merges as
    pairs, a special that is not normalized, a non-special added token that is not normalized) keep the compiled
    path with HF's ids."""
    tokenizers = _hf_module()
    import copy

    from tokenlab.io.hf_json import from_hf_dict
    from tokenlab.tokenizer import Tokenizer

    hf, base = _hf_gpt2_file(tokenizers)
    variants = [  # (change, HF reads the changed file too)
        lambda d: d["model"].pop("type"),
        lambda d: d.update(decoder=None),
        lambda d: d["decoder"].pop("type"),  # HF needs the type; the decoder does not change ids
        lambda d: d["model"].update(merges=[m.split(" ") if isinstance(m, str) else m for m in d["model"]["merges"]]),
        lambda d: d["model"].update(merges=[" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]),
        lambda d: d["model"].update(ignore_merges=None),
        lambda d: d["model"].pop("ignore_merges"),
        lambda d: d["added_tokens"].append({"id": len(d["model"]["vocab"]), "content": "hello", "single_word": False,
                                            "lstrip": False, "rstrip": False, "normalized": False, "special": False}),
        lambda d: [a.pop(k) for a in d["added_tokens"] for k in ("lstrip", "rstrip", "single_word", "special",
                                                                   "normalized")],
        lambda d: d["pre_tokenizer"].pop("use_regex"),  # HF's default: true (GPT-2's regex)
    ]
    for k, change in enumerate(variants):
        d = copy.deepcopy(base)
        change(d)
        ours = from_hf_dict(d)
        assert type(ours) is Tokenizer, k
        ref = hf if k in (2, 8) else tokenizers.Tokenizer.from_str(json.dumps(d))
        assert ours.pretokenizer.pattern == "gpt2"
        for t in HF_TEXTS + ["say hello there"]:
            assert ours.encode(t, allowed_special="all") == ref.encode(t).ids, (k, t)


def test_repeated_merges_keep_their_last_rank_like_hf():
    tokenizers = _hf_module()
    from tokenlab.io.hf_json import from_hf_dict, to_byte_level

    vocab = {to_byte_level(bytes([b])): b for b in range(256)}
    vocab.update({"ab": 256, "bc": 257, "abc": 258})
    d = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
         "post_processor": None,
         "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
         "model": {"type": "BPE", "vocab": vocab, "merges": ["a b", "b c", "a bc", "a b"]}}
    ours = from_hf_dict(d)
    ref = tokenizers.Tokenizer.from_str(json.dumps(d))
    for t in ["abc", "abcabc ab bc", "aabbcc"]:
        assert ours.encode(t) == ref.encode(t).ids, t
    assert ours.encode("abc") == [258]  # "b c" (rank 1) before "a b" (its last rank, 3), then "a bc"
    assert ours.merges == [(b"b", b"c"), (b"a", b"bc"), (b"a", b"b")]


def test_post_processor_of_the_file_is_kept_for_encode_full():
    tokenizers = _hf_module()
    from tokenizers import processors

    from tokenlab.io.hf_json import from_hf_dict
    from tokenlab.offsets import encode_full

    hf, _ = _hf_gpt2_file(tokenizers, specials=("<s>", "</s>"))
    hf.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                                      special_tokens=[("<s>", 0), ("</s>", 1)])
    ours = from_hf_dict(json.loads(hf.to_str()))
    for t in HF_TEXTS:
        assert encode_full(ours, t).ids == hf.encode(t).ids
        assert encode_full(ours, t, add_special_tokens=False).ids == hf.encode(t, add_special_tokens=False).ids


def test_metaspace_files_keep_their_source():
    """A Llama-style (Metaspace) file takes its own model; it keeps the file, which its export gives back."""
    from tokenlab.io.hf_json import from_hf_dict

    from reliability_util import metaspace_json

    d = metaspace_json()
    ours = from_hf_dict(d)
    assert ours._hf_source == metaspace_json() and ours.to_hf_dict() == metaspace_json()


def test_tokenizer_json_damage_is_named():
    """Errors of a damaged tokenizer.json name the file and the field."""
    tokenizers = _hf_module()
    import copy

    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import from_hf_dict, read_hf_json

    hf, base = _hf_gpt2_file(tokenizers)
    bad = [
        (lambda d: d.update(pre_tokenizers={}), r"^f.json: pre_tokenizers: unknown field of tokenizer.json$"),
        (lambda d: d["model"].pop("merges"), r"^f.json: model: BPE model without vocab or merges$"),
        (lambda d: d["model"].pop("vocab"), r"^f.json: model: BPE model without vocab or merges$"),
        (lambda d: (d["model"].pop("type"), d["model"].pop("vocab")), r"^f.json: model: BPE model without vocab or "
                                                                      r"merges$"),
        (lambda d: d.update(added_tokens={"a": 1}), r"^f.json: added_tokens: expected a list, got dict"),
        (lambda d: d["added_tokens"].append("<x>"), r"^f.json: added_tokens\[1\]: expected an object, got str"),
        (lambda d: d["added_tokens"].append(dict(d["added_tokens"][0], id=999)), r"^f.json: added_tokens: '<s>' is "
                                                                                  r"listed twice$"),
        (lambda d: d["model"].update(ignore_merges="yes"), r"^f.json: model.ignore_merges: must be true or false, "
                                                           r"got 'yes'$"),
        (lambda d: d["pre_tokenizer"].update(add_prefix_space=0), r"^f.json: pre_tokenizer.add_prefix_space: must be "
                                                                  r"true or false, got '0'$"),
        (lambda d: d.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "x"}, "behavior": "Isolated", "invert": "no" * 40}]}),
         r"^f.json: pre_tokenizer.pretokenizers\[0\].invert: must be true or false, got '(no){20}'$"),
        (lambda d: d.update(decoder={"type": "Sequence", "decoders": [[{"type": "Fuse", "split": 1}]]}),
         r"^f.json: decoder.decoders\[0\]\[0\].split: must be true or false, got '1'$"),
    ]
    for change, message in bad:
        d = copy.deepcopy(base)
        change(d)
        with pytest.raises(FormatError, match=message):
            from_hf_dict(d, name="f.json")
    with pytest.raises(FormatError, match=r"^tokenizer.json: expected an object, got list"):
        from_hf_dict([1, 2])
    # the compiled path's own damage reports, then the pipeline's, both name the file
    for merges, message in [(["a b c"], r"got 'a b c'"), ([["a", 1]], r"got \['a', 1\]"),
                            ([["a", "b", "c"]], r"got \['a', 'b', 'c'\]"), ([7], "got 7")]:
        d = copy.deepcopy(base)
        d["model"]["merges"] = merges
        from tokenlab.io.hf_json import _special_path
        with pytest.raises(FormatError, match=rf"^g: model.merges\[0\]: expected 'left right' or \[left, right\], "
                                              rf"{message}$"):
            _special_path(d, "g")
    d = copy.deepcopy(base)
    d["model"]["vocab"]["\u20ac"] = len(d["model"]["vocab"])  # not a byte-level character
    with pytest.raises(FormatError, match=r"^token '€' has a character outside the byte-level alphabet: '€'$"):
        _special_path(d, name="h")  # (the pipeline, like HF, reads it)
    # nested components deeper than 50 levels
    deep: dict = {"type": "Fuse"}
    for _ in range(60):
        deep = {"type": "Sequence", "decoders": [deep]}
    d = copy.deepcopy(base)
    d["decoder"] = deep
    # each object key and each list index is one level: level 51 is 25 ".decoders[0]" and one more ".decoders"
    with pytest.raises(FormatError, match=r"^f.json: decoder(\.decoders\[0\]){25}\.decoders: components nested too "
                                          r"deeply$"):
        from_hf_dict(d, name="f.json")
    # fields named like flags inside vocab and merges are tokens, not flags
    d = copy.deepcopy(base)
    d["model"]["vocab"]["split"] = len(d["model"]["vocab"])
    d["model"]["vocab"]["left"] = len(d["model"]["vocab"])
    assert from_hf_dict(d).vocab[b"split"] == d["model"]["vocab"]["split"]
    path = __import__("pathlib").Path(tokenizers.__file__).parent  # a path that is not a file: name in the error
    with pytest.raises(FormatError):
        read_hf_json(path / "missing-tokenizer.json")


def test_char_bpe_export_is_the_file_hf_writes(tmp_path):
    """A character BPE exports as HF's BPE with byte fallback: the same JSON HF writes for those parts, and the
    same ids (an unseen character falls back to its bytes in both)."""
    tokenizers = _hf_module()
    from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers

    from tokenlab.errors import FormatError
    from tokenlab.models.char_bpe import CharBPETokenizer
    from tokenlab.train.char_bpe import train_char_bpe

    for pattern, split_digits in (("gpt2", None), (None, None), ("cl100k", 2)):
        tok = train_char_bpe(HF_TRAIN, 400, pretokenizer=pattern, split_digits=split_digits, special_tokens=["<s>"])
        vocab = {f"<0x{b:02X}>": b for b in range(256)}
        vocab.update(tok.tokens)
        hf = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=list(tok.merges), byte_fallback=True))
        steps = []
        if split_digits:
            steps.append(pre_tokenizers.Split(Regex(rf"\p{{N}}{{1,{split_digits}}}"), "isolated"))
        if pattern:
            from tokenlab.io.hf_json import to_oniguruma
            from tokenlab.pretokenize import PATTERNS

            steps.append(pre_tokenizers.Split(Regex(to_oniguruma(PATTERNS[pattern])), "isolated"))
        if steps:
            hf.pre_tokenizer = pre_tokenizers.Sequence(steps)
        hf.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
        hf.add_special_tokens([AddedToken("<s>", special=True, normalized=False)])
        assert tok.to_hf_dict() == json.loads(hf.to_str()), pattern
        tok.save_hf(tmp_path / "c.json")
        assert "\\u" not in (tmp_path / "c.json").read_text(encoding="utf-8")
        back = tokenizers.Tokenizer.from_file(str(tmp_path / "c.json"))
        for t in HF_TEXTS + ["unseen 𝔘𝔫𝔦 🦜"]:
            ids = tok.encode(t, allowed_special="all")
            assert back.encode(t, add_special_tokens=False).ids == ids
            assert back.decode(ids) == t.replace("<s>", "")
    clash = CharBPETokenizer({"a": 256, "<0x41>": 257}, [], max_token_chars=8)
    with pytest.raises(FormatError, match=r"^token '<0x41>' looks like a byte-fallback token; cannot export to HF$"):
        clash.to_hf_dict()


def test_unigram_export_is_the_file_hf_writes():
    tokenizers = _hf_module()
    from test_mutation_kills_sp import EXTRA, hand_model
    from tokenizers import AddedToken, decoders, models, pre_tokenizers

    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import to_byte_level, unigram_to_hf_dict

    for pattern in ("gpt2", None):
        model = hand_model(pattern, specials={"<s>": 256 + len(EXTRA)})
        order = sorted(model.vocab.items(), key=lambda kv: kv[1])
        hf = tokenizers.Tokenizer(models.Unigram([(to_byte_level(t), model.scores[t]) for t, _ in order],
                                                 unk_id=None, byte_fallback=False))
        steps = [pre_tokenizers.Split(tokenizers.Regex(model.pretokenizer.regex_str), "isolated")] if pattern else []
        hf.pre_tokenizer = pre_tokenizers.Sequence(steps + [pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                     use_regex=False)])
        hf.decoder = decoders.ByteLevel()
        hf.add_special_tokens([AddedToken("<s>", special=True, normalized=False)])
        want = json.loads(hf.to_str())
        want["model"]["vocab"] = [list(x) for x in want["model"]["vocab"]]
        got = model.to_hf_dict()
        want_vocab, got_vocab = want["model"].pop("vocab"), got["model"].pop("vocab")
        assert got == want
        assert [t for t, _ in got_vocab] == [t for t, _ in want_vocab]
        assert [s for _, s in got_vocab] == pytest.approx([s for _, s in want_vocab])  # HF keeps f64 scores
    n = 256 + len(EXTRA)
    with pytest.raises(FormatError, match=rf"^HF Unigram gives special tokens the ids right after its {n} pieces "
                                          rf"\({n}..{n + 1}\); this tokenizer's are \[{n}, {n + 2}\], so HF would "
                                          r"encode them with other ids$"):
        unigram_to_hf_dict(hand_model("gpt2", specials={"<s>": n, "</s>": n + 2}))
    gap = hand_model("gpt2")
    gap.vocab = dict(gap.vocab)
    gap.vocab[b"zz"] = len(gap.vocab) + 5
    gap.scores = dict(gap.scores) | {b"zz": -20.0}
    with pytest.raises(FormatError, match=r"^HF Unigram needs piece ids 0..n-1 without gaps$"):
        unigram_to_hf_dict(gap)


def test_more_tokenizer_json_errors_and_limits():
    tokenizers = _hf_module()
    import copy

    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import _special_path, from_hf_dict
    from tokenlab.pipeline import PipelineTokenizer
    from tokenlab.tokenizer import Tokenizer

    hf, base = _hf_gpt2_file(tokenizers)
    d = copy.deepcopy(base)
    d["added_tokens"][0]["id"] = d["model"]["vocab"]["a"]  # one id for two tokens
    with pytest.raises(FormatError, match=r"^f.json: added_tokens: special '<s>' has the id 65 of the token 'a'$"):
        from_hf_dict(d, name="f.json")
    d = copy.deepcopy(base)
    d["model"] = [1]
    with pytest.raises(FormatError, match=r"^f.json: model: expected an object, got list"):
        from_hf_dict(d, name="f.json")
    # the pipeline's errors carry the file name when there is one, and nothing before them otherwise
    d = copy.deepcopy(base)
    d["model"]["type"] = "Foo"
    with pytest.raises(FormatError, match=r"^model 'Foo' is not supported$"):
        from_hf_dict(d)
    with pytest.raises(FormatError, match=r"^f.json: model 'Foo' is not supported$"):
        from_hf_dict(d, name="f.json")
    d = copy.deepcopy(base)
    d["pre_tokenizer"] = {"type": "Sequence"}
    with pytest.raises(FormatError, match=r"^corrupt tokenizer.json: KeyError\('pretokenizers'\)$"):
        _special_path(d)
    d = copy.deepcopy(base)
    d["model"]["merges"] = "a b"
    with pytest.raises(FormatError, match=r"^g: model.merges: expected a list, got str"):
        _special_path(d, "g")
    for bad in ["a  b", "a b c", "x" * 200]:
        d = copy.deepcopy(base)
        d["model"]["merges"] = [bad]
        body = f"expected 'left right' or [left, right], got {bad!r}"[:120]  # one line of at most 120 characters
        with pytest.raises(FormatError, match=r"^g: model.merges\[0\]: (.*)$") as info:
            _special_path(d, "g")
        assert str(info.value) == f"g: model.merges[0]: {body}"
    # a non-special added token without "normalized" is normalized (HF's default for it): the pipeline's
    d = copy.deepcopy(base)
    d["added_tokens"].append({"id": len(d["model"]["vocab"]), "content": "hello", "single_word": False,
                              "lstrip": False, "rstrip": False, "special": False})
    with pytest.raises(FormatError, match="^normalized added tokens$"):
        _special_path(d)
    # a sparse id (a gap of a million) is within the bound for a file of this size, as HF reads it
    d = copy.deepcopy(base)
    d["model"]["vocab"]["zzz"] = (1 << 20) + 100
    ours = from_hf_dict(d)
    assert type(ours) is Tokenizer and ours.vocab[b"zzz"] == (1 << 20) + 100
    assert tokenizers.Tokenizer.from_str(json.dumps(d)).token_to_id("zzz") == (1 << 20) + 100
    # ignore_merges is read: a whole-vocabulary piece stays whole, as in HF
    d = copy.deepcopy(base)
    d["model"]["vocab"]["Ġhello"] = len(d["model"]["vocab"])
    for ignore in (False, True):
        d["model"]["ignore_merges"] = ignore
        ours = from_hf_dict(d)
        ref = tokenizers.Tokenizer.from_str(json.dumps(d))
        assert type(ours) is Tokenizer and ours.ignore_merges is ignore
        for t in ["say hello", " hello hello"]:
            assert ours.encode(t) == ref.encode(t).ids
        assert (d["model"]["vocab"]["Ġhello"] in ours.encode(" hello")) is ignore
    assert not isinstance(ours, PipelineTokenizer)


def test_unigram_tokenizer_json_reads_back_with_hf_ids():
    """A Unigram tokenizer.json (its vocab a list of [piece, score]) passes the id checks and reads with HF's ids."""
    tokenizers = _hf_module()
    from test_mutation_kills_sp import EXTRA, hand_model

    from tokenlab.io.hf_json import from_hf_dict

    model = hand_model("gpt2", specials={"<s>": 256 + len(EXTRA)})
    d = model.to_hf_dict()
    ours = from_hf_dict(d)
    ref = tokenizers.Tokenizer.from_str(json.dumps(d))
    for t in HF_TEXTS:
        assert ours.encode(t, allowed_special="all") == ref.encode(t, add_special_tokens=False).ids


# ---------------------------------------------------------------------------------------------- pretokenize.py


def test_stand_ins_are_the_highest_code_points_in_the_same_classes(monkeypatch):
    """A code point on which ``regex`` and tiktoken's table (data/regex_properties.json) disagree gets as stand-in
    the highest code point from U+3000 up (no surrogate) that both put in exactly the classes the table puts the
    original in: as far as can be from ASCII and the scripts patterns name literally. Computed here from the table
    and ``regex`` directly, with the module's caches emptied; its class tables are boolean (one byte a code point,
    and they stay cached)."""
    from importlib.resources import files

    import numpy as np
    import regex

    from tokenlab import pretokenize as pt

    monkeypatch.setattr(pt, "_PINNED", None)
    monkeypatch.setattr(pt, "_MEMBERSHIP", {})
    monkeypatch.setattr(pt, "_STAND_INS", {})
    table = json.loads(files("tokenlab").joinpath("data/regex_properties.json").read_text(encoding="utf-8"))["classes"]
    cps = np.arange(0x110000, dtype=np.uint32)
    cps[0xD800:0xE000] = ord("a")
    everything = cps.tobytes().decode("utf-32-le")
    surrogate = (np.arange(0x110000) >= 0xD800) & (np.arange(0x110000) < 0xE000)
    for pattern, names in [(pt.CL100K_PATTERN, ["L", "N", "s"]), (r"\p{Lu}\p{M}+|\p{Han}|\p{Nd}",
                                                                   ["Lu", "M", "Han", "Nd"]),
                           (r"\p{C}+|\p{L}+", ["C", "L"])]:
        pinned = np.zeros(0x110000, dtype=np.int64)
        ours = np.zeros(0x110000, dtype=np.int64)
        for k, n in enumerate(names):
            for lo, hi in table[n]:
                pinned[lo:hi + 1] |= 1 << k
            rx = regex.compile(rf"\{n}" if n in "sdw" else rf"\p{{{n}}}")
            hits = np.array([m.start() for m in rx.finditer(everything)], dtype=np.int64)
            ours[hits] |= 1 << k
        ours[surrogate] = pinned[surrogate] = 0
        stable = (pinned == ours) & ~surrogate
        stable[:0x3000] = False
        want = {}
        highest: dict[int, int | None] = {}  # classes -> the highest stable code point regex puts in them
        for cp in np.flatnonzero(pinned != ours).tolist():
            sig = int(pinned[cp])
            if sig not in highest:
                same = np.flatnonzero(stable & (ours == sig))
                highest[sig] = int(same[-1]) if len(same) else None
            if highest[sig] is not None:
                want[cp] = highest[sig]
        mapping, lowest = pt.stand_ins(pattern)
        # compared without pytest's diff of two dicts of ~10**5 entries, which takes minutes
        wrong = [(hex(cp), mapping.get(cp), want.get(cp)) for cp in sorted(set(mapping) | set(want))
                 if mapping.get(cp) != want.get(cp)]
        assert not wrong, (len(wrong), wrong[:5])
        assert lowest == min(want)
        for k, n in enumerate(names):  # the class tables themselves: one bool a code point
            for source, bits in ((True, pinned), (False, ours)):
                member = pt._membership(n, source)
                assert member.dtype == np.bool_ and np.array_equal(member, (bits >> k) & 1 == 1), (n, source)


# ---------------------------------------------------------------------------------------------- models/sentencepiece.py


def _sp_pair(pieces):
    from test_mutation_kills_sp import _proto, _spm

    from tokenlab.io.sentencepiece import parse_sentencepiece

    data = _proto(pieces=pieces, model_type=1, normalizer={"name": "identity", "add_dummy_prefix": False})
    return _spm(data), parse_sentencepiece(data)


def test_float32_path_ties_round_from_zero_like_sentencepiece():
    """sentencepiece's float32 path scores start at 0: a + b = -1 + -(1 - 2**-24) rounds to -2.0 exactly, a tie
    with ab (-2.0), and the first candidate, ab, stays. (Started from 1.0, a + b would be -0.99999994 against
    ab's -1.0, and a|b would win.)"""
    ref, ours = _sp_pair([("<unk>", 0.0, 2), ("\u2581", -9.0, 1), ("a", -1.0, 1), ("b", -(1.0 - 2.0 ** -24), 1),
                          ("ab", -2.0, 1)])
    assert ref.encode("ab") == [4]
    for text in ("ab", "abab", "aab", "bab"):
        assert ours._encode_python(text) == ref.encode(text), text


def test_a_path_score_of_exactly_100000_is_not_rebased():
    """sentencepiece re-bases float32 path scores only once one passes +-100000, not at exactly 100000. After z
    (+100000) the sums keep 100000's float32 spacing (2**-7): a + b and ab both round to 100000, a tie that ab
    (first) keeps; re-based to 0 they would be -2/1024 against -3/1024, and a|b would win."""
    ref, ours = _sp_pair([("<unk>", 0.0, 2), ("\u2581", -9.0, 1), ("z", 100000.0, 1), ("a", -1 / 1024, 1),
                          ("b", -1 / 1024, 1), ("ab", -3 / 1024, 1)])
    assert ref.encode("zab") == [2, 5]
    for text in ("zab", "zabab", "ab"):
        assert ours._encode_python(text) == ref.encode(text), text



def _hf_byte_bpe_with_split(pattern):
    """An HF-trained byte-level BPE (trained without a Split, so it has merges across characters) whose
    pre-tokenizer is then a Split of ``pattern`` before ByteLevel: the tokenizer.json HF itself writes."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    from adversarial_text import snippets

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    hf.train_from_iterator(["hello world, the cat sat on the mat 123 4567", *snippets(3, 200)], trainer)
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(pattern, "isolated"),
                                                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    return hf


@pytest.mark.parametrize("kind", ["Regex", "String"])
def test_split_with_an_empty_pattern_splits_every_character_like_hf(kind):
    from tokenizers import Regex

    from tokenlab.io.hf_json import from_hf_dict

    from adversarial_text import snippets

    hf = _hf_byte_bpe_with_split(Regex("") if kind == "Regex" else "")
    d = json.loads(hf.to_str())
    assert d["pre_tokenizer"]["pretokenizers"][0]["pattern"] == {kind: ""}
    ours = from_hf_dict(d)
    texts = ["hello world", "the cat sat on the mat", "  two  spaces\n\nand lines\t123 4567", "",
             "héllo wörld 😀 日本語 👩‍👩‍👧", *snippets(11, 60)]
    for text in texts:
        want = hf.encode(text).ids
        assert list(ours.encode(text)) == want, text
        assert ours.decode(want) == hf.decode(want), text
        assert len(want) >= len(text)  # every character its own piece: no merge crosses two characters


def test_an_empty_tokenlab_pattern_exports_as_no_split():
    """tokenlab's empty pattern keeps the text whole; HF's empty Split would split every character."""
    from tokenizers import Tokenizer as HFTokenizer

    from tokenlab.io.hf_json import from_hf_dict, to_hf_dict
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    whole = from_hf_dict(json.loads(_hf_byte_bpe_with_split("x").to_str()))
    tok = Tokenizer(vocab=whole.vocab, merges=whole.merges, pretokenizer=PreTokenizer(""))
    hf = HFTokenizer.from_str(json.dumps(to_hf_dict(tok)))
    for text in ["hello world", "the cat sat on the mat 123", "héllo 😀"]:
        assert hf.encode(text).ids == list(tok.encode(text)), text
    assert len(tok.encode("hello world")) < len("hello world")  # merged across characters: kept whole
