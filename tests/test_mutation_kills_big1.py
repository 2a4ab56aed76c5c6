"""Tests written for mutants of train/bpe.py and io/hf_json.py outside their first samples (``--only
'*[12346789]'``) that the rest of the suite let survive (see docs/testing.md, "Mutation testing"). Each checks
behaviour against an independent expectation: a plain count, HF ``tokenizers``, the documented signature, or a
hand-worked case."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from test_mutation_kills_sp import TRAIN_DOCS, _count_threads

from tokenlab.errors import InvalidInputError


def _plain_count(docs, pre) -> Counter:
    want: Counter = Counter()
    for doc in docs:
        want.update(p.encode("utf-8") for p in pre.split(doc))
    return want


# ---------------------------------------------------------------------------------------------- train/bpe.py


def test_a_count_task_builds_its_counter_once_per_process(monkeypatch):
    """``CountTask`` (the map step run on Dask/Ray workers) builds and checks its counter once per setting and
    keeps it: later batches reuse it, and each batch is still counted right."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    monkeypatch.setattr(bpe, "_TASK_COUNTERS", {})
    built = []
    real = bpe._make_counter

    def recording(pre, native=None):
        built.append((pre.pattern, native))
        return real(pre, native)
    monkeypatch.setattr(bpe, "_make_counter", recording)
    pre = PreTokenizer("gpt2")
    task = bpe.CountTask(pre, native=False)
    for doc in TRAIN_DOCS:
        assert task([doc]) == _plain_count([doc], pre)
    assert bpe.CountTask(pre, native=False)(TRAIN_DOCS) == _plain_count(TRAIN_DOCS, pre)  # a second task: same key
    assert built == [(pre.pattern, False)]
    bpe.CountTask(PreTokenizer("cl100k"), native=False)(["x"])  # another setting: its own counter
    assert len(built) == 2


def test_default_workers_are_the_cores_up_to_16(monkeypatch):
    """``default_workers`` (``train_bpe``'s default: all cores) caps the pool at 16 processes."""
    import os

    from tokenlab.train.bpe import default_workers

    for cores in (15, 16, 17, 64):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert default_workers() == min(cores, 16)


def _count_in_daemon(queue, docs, pattern):
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import count_pretokens

    try:
        queue.put(("ok", count_pretokens(docs, PreTokenizer(pattern), workers=2, batch_chars=50, native=False)))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        queue.put(("error", repr(exc)))


def test_counting_inside_a_daemon_process_stays_in_that_process():
    """A daemon process (a pool worker, Dask's nanny) may not start children: ``count_pretokens`` asked for 2
    workers there counts in-process and gives the plain count, instead of failing to start a pool."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    pattern = r"\w+|\W+"  # no state machine: the regex counter, which would run in processes
    docs = ["abc def, ghi " * 30, "x y z " * 40, "Größe 東京 12 " * 10]
    proc = ctx.Process(target=_count_in_daemon, args=(queue, docs, pattern), daemon=True)
    proc.start()
    status, value = queue.get(timeout=60)
    proc.join(10)
    from tokenlab.pretokenize import PreTokenizer

    assert status == "ok", value
    assert value == _plain_count(docs, PreTokenizer(pattern))


def test_the_process_pool_forks_where_fork_exists_whatever_the_default(monkeypatch):
    """A fork pool inherits the loaded kernels and caches: it is used wherever ``fork`` exists, also where the
    default start method is another (macOS, Python 3.14's forkserver); ``spawn`` only where fork is missing."""
    from tokenlab.train import bpe

    asked = []
    real_get_context = multiprocessing.get_context

    def recording(method=None):
        asked.append(method)
        return real_get_context(method)
    monkeypatch.setattr(multiprocessing, "get_context", recording)
    pool = bpe._pool(1, None, ())
    try:
        assert asked == ["fork"]
        assert pool._mp_context.get_start_method() == "fork"
    finally:
        pool.shutdown()
    # a platform without fork: get_context("fork") fails there, as on Windows
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])

    def no_fork(method=None):
        asked.append(method)
        if method not in ("spawn", None):
            raise ValueError(f"cannot find context for {method!r}")
        return real_get_context("spawn")
    monkeypatch.setattr(multiprocessing, "get_context", no_fork)
    asked.clear()
    pool = bpe._pool(1, None, ())
    try:
        assert asked == ["spawn"]
    finally:
        pool.shutdown()


def _words_and_recount(trainer):
    out: Counter = Counter()
    for w, c in zip(trainer.words, trainer.counts):
        for p in zip(w, w[1:]):
            out[p] += c
    return out


def test_bpe_trainer_lists_its_merges_and_they_equal_hf():
    """``BPETrainer.merges`` lists the pairs merged, in order; as bytes they are HF ``BpeTrainer``'s merges."""
    from test_mutation_kills_sp import _hf_merges

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import BPETrainer, count_pretokens

    trainer = BPETrainer(count_pretokens(TRAIN_DOCS, PreTokenizer("gpt2"), workers=1))
    merged = []
    for _ in range(40):
        best = trainer.best_pair()
        if best is None:
            break
        merged.append(best[0])
        trainer.merge(best[0])
    assert trainer.merges == merged
    as_bytes = [(trainer.token_bytes[a], trainer.token_bytes[b]) for a, b in trainer.merges]
    assert as_bytes == _hf_merges(TRAIN_DOCS, 256 + len(merged))[:len(merged)]


def test_bpe_trainer_merge_of_a_pair_that_does_not_occur_changes_no_word():
    """Merging a pair found in no word (never seen, or gone after an earlier merge) adds its token and changes
    nothing else; training then goes on as a recount says."""
    from tokenlab.train.bpe import BPETrainer

    trainer = BPETrainer({b"abab": 3, b"cab": 2})
    words = [list(w) for w in trainer.words]
    new = trainer.merge((ord("z"), ord("q")))  # never seen
    assert new == 256 and trainer.token_bytes[new] == b"zq" and trainer.words == words
    ab = trainer.merge((ord("a"), ord("b")))
    assert trainer.words == [[ab, ab], [ord("c"), ab]]
    again = trainer.merge((ord("a"), ord("b")))  # gone: an earlier merge took it
    assert again == ab + 1 and trainer.words == [[ab, ab], [ord("c"), ab]]
    best = trainer.best_pair()
    want = _words_and_recount(trainer)
    assert best is not None and best[1] == max(want.values()) == want[best[0]]


def test_training_shows_no_progress_unless_asked(capsys, monkeypatch):
    """``train_bpe`` and ``train_from_counts`` are quiet by default (``progress=False``): no bar on stderr."""
    from tqdm.std import tqdm

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import count_pretokens, train_bpe, train_from_counts

    monkeypatch.setattr(tqdm, "monitor_interval", 0)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    capsys.readouterr()
    quiet = train_bpe(TRAIN_DOCS, 300, workers=1)
    assert capsys.readouterr().err == ""
    pre = PreTokenizer("gpt2")
    also_quiet = train_from_counts(count_pretokens(TRAIN_DOCS, pre, workers=1), 300, pre)
    assert capsys.readouterr().err == ""
    assert quiet.merges == also_quiet.merges
    train_from_counts(count_pretokens(TRAIN_DOCS, pre, workers=1), 300, pre, progress=True)
    assert "merging" in capsys.readouterr().err  # the check can see a bar


def test_too_small_a_vocab_is_refused_before_the_corpus_is_read():
    """``vocab_size`` below 256 bytes plus the specials fails at once, not after pre-tokenizing the corpus."""
    from tokenlab.train.bpe import train_bpe

    read = []

    def corpus():
        for doc in TRAIN_DOCS:
            read.append(doc)
            yield doc
    for specials in (["<a>"], ["<a>", "<b>", "<c>"]):
        for vocab_size in (256 + len(specials) - 1, 256 - len(specials) + 1):
            with pytest.raises(InvalidInputError, match=f"^vocab_size {vocab_size} is below 256 bytes \\+ "
                                                        f"{len(specials)} specials$"):
                train_bpe(corpus(), vocab_size, special_tokens=specials)
    assert read == []
    tok = train_bpe(corpus(), 256 + 3, special_tokens=["<a>", "<b>", "<c>"], workers=1)  # the smallest allowed
    assert tok.merges == [] and sorted(tok.special_tokens.values()) == [256, 257, 258]


def test_train_bpe_passes_workers_and_map_fn_on(monkeypatch):
    """``train_bpe(workers=..., map_fn=...)``: the counting runs where ``map_fn`` says (every batch through it),
    with the worker count asked for, and gives the same tokenizer as a local run."""
    from tokenlab.train import bpe

    mapped = []

    def map_fn(fn, batches):
        for batch in batches:
            mapped.append(len(batch))
            yield fn(batch)
    local = bpe.train_bpe(TRAIN_DOCS, 320, workers=1)
    remote = bpe.train_bpe(TRAIN_DOCS, 320, map_fn=map_fn)
    assert mapped and sum(mapped) == len(TRAIN_DOCS)
    assert remote.merges == local.merges and remote.vocab == local.vocab

    seen = []
    real = bpe.count_pretokens

    def recording(corpus, pre, **kwargs):
        seen.append(kwargs.get("workers"))
        return real(corpus, pre, **kwargs)
    monkeypatch.setattr(bpe, "count_pretokens", recording)
    monkeypatch.setattr(bpe, "default_workers", lambda: pytest.fail("the default worker count was asked for"))
    assert bpe.train_bpe(TRAIN_DOCS, 320, workers=3).merges == local.merges
    assert seen == [3]


def test_largest_vocab_size_is_the_one_whose_ids_fit_in_31_bits():
    """Ids run 0..vocab_size-1 and must fit the id limit (``MAX_ID``): ``MAX_ID + 1`` is accepted, one more is
    refused (the loop's tables are sized by the pairs there are, so this allocates nothing big)."""
    from tokenlab.io.validate import MAX_ID
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import train_bpe, train_from_counts

    pre = PreTokenizer("gpt2")
    for vocab_size in (MAX_ID, MAX_ID + 1):
        tok = train_from_counts({b"abc": 2, b"ab": 1}, vocab_size, pre)
        assert tok.merges == [(b"a", b"b"), (b"ab", b"c")]
    for train in (lambda v: train_from_counts({b"abc": 2}, v, pre), lambda v: train_bpe(["abc"], v, workers=1)):
        with pytest.raises(InvalidInputError, match=f"^vocab_size {MAX_ID + 2} is too large"):
            train(MAX_ID + 2)


def test_trained_tokenizers_are_unnamed_unless_named():
    """A tokenizer trained without a name has the name a ``Tokenizer`` built without one has."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer
    from tokenlab.train.bpe import train_bpe, train_from_counts

    pre = PreTokenizer("gpt2")
    unnamed = Tokenizer(vocab={bytes([b]): b for b in range(256)}, merges=[], pretokenizer=pre).name
    assert train_from_counts({b"abc": 2}, 300, pre).name == unnamed
    assert train_bpe(["abc abc"], 300, workers=1).name == unnamed
    assert train_from_counts({b"abc": 2}, 300, pre, name="mine").name == "mine"


def test_batches_end_at_the_first_document_that_fills_them():
    """``count_pretokens`` cuts the corpus into batches: a batch ends with the document that brings it to
    ``batch_chars`` characters or more, and the next starts empty. ``map_fn`` sees exactly those batches."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import count_pretokens

    def cut(lengths, limit):  # the rule, written out
        out, cur, size = [], [], 0
        for n in lengths:
            cur.append(n)
            size += n
            if size >= limit:
                out.append(cur)
                cur, size = [], 0
        return out + ([cur] if cur else [])

    pre = PreTokenizer("gpt2")
    for lengths in ([9, 1, 9, 1, 9], [10, 10, 3], [4, 4, 4, 4, 4, 4], [1] * 25, [11, 9, 1, 8, 2]):
        docs = ["x" * n for n in lengths]
        seen = []

        def map_fn(fn, batches, seen=seen):
            for batch in batches:
                seen.append([len(d) for d in batch])
                yield fn(batch)
        assert count_pretokens(docs, pre, batch_chars=10, map_fn=map_fn) == _plain_count(docs, pre)
        assert seen == cut(lengths, 10)


def test_one_worker_counts_every_batch_in_the_calling_thread(monkeypatch):
    """``workers=1`` (or less) counts in the calling thread: no thread pool, no process pool, whatever the
    number of batches."""
    import threading

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    threads = _count_threads(monkeypatch)
    docs = ["abc def " * 20] * 8
    for pattern in ("gpt2", r"\w+|\W+"):  # the compiled counter (threads) and the regex one (processes)
        pre = PreTokenizer(pattern)
        for workers in (1, 0, -3):
            threads.clear()
            assert bpe.count_pretokens(docs, pre, workers=workers, batch_chars=100) == _plain_count(docs, pre)
            assert len(threads) == 8 and set(threads) == {threading.get_ident()}


def test_counting_shows_no_progress_unless_asked(capsys):
    """``count_pretokens`` is quiet by default; ``progress=True`` shows the pre-tokenizing bar."""
    from tqdm.std import tqdm

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import count_pretokens

    pre = PreTokenizer("gpt2")
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tqdm, "monitor_interval", 0)
        assert count_pretokens(TRAIN_DOCS, pre, workers=1) == _plain_count(TRAIN_DOCS, pre)
        assert capsys.readouterr().err == ""
        count_pretokens(TRAIN_DOCS, pre, workers=1, progress=True)
        assert "pre-tokenizing" in capsys.readouterr().err


def test_without_the_c_counter_the_numba_counter_is_asked_for(monkeypatch):
    """Where the C kernels cannot count (not built), the numba state machine (``train/_count.native_counter``)
    is asked for with the pre-tokenizer and used (after the probe check). A stand-in that counts like the regex
    replaces it here: compiling the real one costs ~18 s (``test_train_fast.py`` compares it with the regex)."""
    import sys
    import types

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    monkeypatch.setattr(bpe, "c_counter", lambda pre: None)
    asked, used = [], []

    def native_counter(pre):
        asked.append(pre)

        def count(docs):
            used.append(len(docs))
            return {k: v for k, v in _plain_count(docs, pre).items()}
        return count
    monkeypatch.setitem(sys.modules, "tokenlab.train._count", types.SimpleNamespace(native_counter=native_counter))
    pre = PreTokenizer("gpt2", 3)
    counter = bpe._make_counter(pre)
    assert asked == [pre] and used == [1]  # built for this pre-tokenizer, checked on the probe
    assert getattr(counter, "releases_gil", False)
    assert counter(TRAIN_DOCS) == _plain_count(TRAIN_DOCS, pre) and used == [1, len(TRAIN_DOCS)]


def test_a_thread_pool_has_as_many_threads_as_workers(monkeypatch):
    """The compiled counter runs in a pool of ``workers`` threads (not Python's default size)."""
    import concurrent.futures
    import os

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    sizes = []
    real = concurrent.futures.ThreadPoolExecutor

    def recording(*args, **kwargs):
        executor = real(*args, **kwargs)
        sizes.append(executor._max_workers)
        return executor
    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", recording)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    pre = PreTokenizer("gpt2")
    docs = ["abc def " * 30] * 9
    for workers in (2, 3):
        assert bpe.count_pretokens(docs, pre, workers=workers, batch_chars=100) == _plain_count(docs, pre)
    assert sizes == [2, 3]


def test_the_c_counter_is_only_for_the_named_state_machines(monkeypatch):
    """``c_counter`` is None for a pattern with no state machine of the counting kernel (a custom regex, no
    pattern, the cl100k family's parameterised ids); for the named ones it counts like the regex, and
    ``_make_counter`` then counts with it alone, never with the regex."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    if bpe.c_counter(PreTokenizer("gpt2")) is None:
        pytest.skip("the C kernels are not built")
    qwen = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    for pattern in (r"\w+|\W+", None, qwen):
        assert bpe.c_counter(PreTokenizer(pattern)) is None
    pre = PreTokenizer("gpt2")
    want = _plain_count(TRAIN_DOCS, pre)
    regex_calls = []
    real_split = PreTokenizer.split
    monkeypatch.setattr(PreTokenizer, "split", lambda self, text: regex_calls.append(text) or real_split(self, text))
    counter = bpe._make_counter(pre)
    regex_calls.clear()  # the probe check ran the regex once
    assert counter(TRAIN_DOCS) == want
    assert regex_calls == []


# ---------------------------------------------------------------------------------------------- io/hf_json.py


def test_byte_level_pre_tokenizer_splits_like_hf():
    """``byte_level_pre_tokenizer`` (the pipeline component for a tokenlab pre-tokenizer) gives HF's pieces and
    offsets for the Split + ByteLevel sequence the export writes."""
    tokenizers = pytest.importorskip("tokenizers")
    import json

    from tokenlab.io.hf_json import byte_level_pre_tokenizer, to_hf_dict
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    text = "Hello, World! It's 2024-06-01:\n\n  x=3.14159 Größe 東京 🤖 don't   end "
    for pattern, digits in (("gpt2", None), ("cl100k", 3), (r"\w+|\W+", 1)):
        pre = PreTokenizer(pattern, digits)
        tok = Tokenizer(vocab={bytes([b]): b for b in range(256)}, merges=[], pretokenizer=pre)
        hf = tokenizers.Tokenizer.from_str(json.dumps(to_hf_dict(tok)))
        assert byte_level_pre_tokenizer(pre).pre_tokenize_str(text) == hf.pre_tokenizer.pre_tokenize_str(text)


def test_read_hf_json_names_the_file_and_takes_the_pipeline_when_asked(tmp_path):
    """``read_hf_json(path)``: the tokenizer's name and every error name the file; ``pipeline=True`` returns the
    component pipeline, with the same ids."""
    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import read_hf_json, write_hf_json
    from tokenlab.train.bpe import train_bpe

    tok = train_bpe(TRAIN_DOCS, 300, workers=1)
    path = tmp_path / "tokenizer.json"
    write_hf_json(tok, path)
    fast = read_hf_json(path)
    assert fast.name == str(path)
    piped = read_hf_json(path, pipeline=True)
    assert type(piped) is not type(fast) and type(piped).__name__ == "PipelineTokenizer"
    text = "the cat sat on the mat; Größe 12345"
    assert piped.encode(text) == list(fast.encode(text)) == list(tok.encode(text))
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}', encoding="utf-8")
    with pytest.raises(FormatError, match=f"^{bad}"):
        read_hf_json(bad)


def test_metaspace_files_read_by_path_are_named_after_the_file(tmp_path):
    """A Llama-style (Metaspace) tokenizer.json takes its own model, named after the file like the others."""
    import json

    from tokenlab.io.hf_json import from_hf_dict, read_hf_json

    from reliability_util import metaspace_json

    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(metaspace_json()), encoding="utf-8")
    tok = read_hf_json(path)
    assert type(tok).__name__ != "PipelineTokenizer" and tok.name == str(path)
    assert from_hf_dict(metaspace_json(), name="llama").name == "llama"


def test_a_byte_level_file_without_added_tokens_takes_the_compiled_path():
    """A byte-level BPE tokenizer.json with no ``added_tokens`` field (HF reads it as an empty list) is the
    compiled ``Tokenizer``, with HF's ids."""
    tokenizers = pytest.importorskip("tokenizers")
    import json

    from tokenlab.io.hf_json import from_hf_dict, to_hf_dict
    from tokenlab.train.bpe import train_bpe

    d = to_hf_dict(train_bpe(TRAIN_DOCS, 300, workers=1))
    del d["added_tokens"]
    tok = from_hf_dict(d)
    assert type(tok).__name__ == "Tokenizer"
    hf = tokenizers.Tokenizer.from_str(json.dumps(d))
    text = "the cat sat on the mat; Größe 東京 12345"
    assert list(tok.encode(text)) == hf.encode(text).ids


def test_a_missing_ignore_merges_reads_as_false_like_hf():
    """Without ``ignore_merges`` in the model, HF follows the merges (a word that is a token is not taken whole);
    so does the reader. The vocabulary holds ``abc``, but the merges of ``abc`` end at ``a`` + ``bc``."""
    tokenizers = pytest.importorskip("tokenizers")
    import json

    from tokenlab.io.hf_json import from_hf_dict, to_hf_dict
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    vocab = {bytes([b]): b for b in range(256)}
    for t in (b"bc", b"ab", b"abc"):
        vocab[t] = len(vocab)
    tok = Tokenizer(vocab=vocab, merges=[(b"b", b"c"), (b"a", b"b"), (b"ab", b"c")], pretokenizer=PreTokenizer("gpt2"))
    d = to_hf_dict(tok)
    del d["model"]["ignore_merges"]
    hf = tokenizers.Tokenizer.from_str(json.dumps(d))
    for text in ("abc", "abc ab bc xabc"):
        assert list(from_hf_dict(d).encode(text)) == hf.encode(text).ids
    assert hf.encode("abc").ids == [vocab[b"a"], vocab[b"bc"]]


def test_flags_of_the_normalizer_and_post_processor_are_checked_and_the_post_processor_is_kept():
    """A boolean field holding a number or a string is refused in every component (HF refuses it), the normalizer
    and post-processor included; a byte-level file with a post-processor stays on the compiled path and keeps it.
    A pipeline tokenizer is named after the file too."""
    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import from_hf_dict, to_hf_dict
    from tokenlab.train.bpe import train_bpe

    base = to_hf_dict(train_bpe(TRAIN_DOCS, 300, workers=1))
    post = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    with_post = dict(base, post_processor=post)
    tok = from_hf_dict(with_post, name="f.json")
    assert type(tok).__name__ == "Tokenizer" and tok._hf_post_processor == post and tok.name == "f.json"
    assert from_hf_dict(with_post, name="f.json", pipeline=True).name == "f.json"
    bad_post = dict(base, post_processor=dict(post, trim_offsets=1))
    bad_norm = dict(base, normalizer={"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                                      "strip_accents": None, "lowercase": "yes"})
    for d, field in ((bad_post, "post_processor.trim_offsets"), (bad_norm, "normalizer.lowercase")):
        with pytest.raises(FormatError, match="must be true or false") as err:
            from_hf_dict(d, name="f.json")
        assert field in str(err.value)


def test_top_level_and_vocab_id_errors_name_the_file_and_the_field():
    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import from_hf_dict

    with pytest.raises(FormatError) as err:
        from_hf_dict([], name="f.json")
    assert "f.json" in str(err.value) and "tokenizer.json" in str(err.value)
    with pytest.raises(FormatError) as err:
        from_hf_dict({"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}, name="f.json")
    assert str(err.value).startswith("f.json: model.vocab['a']: ")
