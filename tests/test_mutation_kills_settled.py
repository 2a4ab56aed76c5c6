"""Tests for mutants docs/testing.md had left "explained, not shown equivalent" (session 8): counting inside a
daemon process seen by mutmut's per-test coverage, a process pool whose worker dies (training's and encode-corpus'),
the counting kernel's pattern ids, the trainer's node bound, tokenizer.json models without a type and added-token
ids HF renumbers (both against HF ``tokenizers``), sparse vocab ids, the "corrupt tokenizer.json" error, and a
Unigram piece without a score."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import threading
from collections import Counter

import pytest

from tokenlab.errors import FormatError, TokenlabError


def _plain_count(docs, pre) -> Counter:
    want: Counter = Counter()
    for doc in docs:
        want.update(p.encode("utf-8") for p in pre.split(doc))
    return want


def _within(seconds: float, fn):
    """``fn()`` in a daemon thread: {"value": ...} or {"error": ...}; a test failure if it still runs after
    ``seconds`` (a hang fails the test instead of stalling the run)."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it hangs"
    return out


# ---------------------------------------------------------------------------------------------- train/bpe.py

DOCS = ["abc def, ghi " * 30, "x y z " * 40, "Größe 東京 12 " * 10]
REGEX = r"\w+|\W+"  # no state machine: the regex counter, which runs in processes


def test_counting_in_a_process_flagged_daemon_stays_in_that_process(monkeypatch):
    """The in-process twin of ``test_counting_inside_a_daemon_process_stays_in_that_process`` (which forks a real
    daemon process, where mutmut's per-test coverage does not see it): with this process flagged daemon, as a pool
    worker is, ``count_pretokens`` asked for 2 workers (or the default) counts here and gives the plain count;
    ``multiprocessing`` refuses a daemon process children, so a pool would fail."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    pre = PreTokenizer(REGEX)
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    assert bpe._in_daemon_process()
    for workers in (2, 3, None):
        assert bpe.count_pretokens(DOCS, pre, workers=workers, batch_chars=50, native=False) == _plain_count(DOCS, pre)
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", False)
    assert not bpe._in_daemon_process()


_STATE: dict = {}


def _die_in_a_worker(batch):
    """``_count_batch`` for the test below: counts in the test's process, kills any other (a worker) outright."""
    if os.getpid() != _STATE["parent"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return _STATE["count_batch"](batch)


def test_a_dead_worker_fails_the_count_with_a_clear_error_instead_of_hanging(monkeypatch):
    """A counting worker that dies (killed, e.g. by the out-of-memory killer, or whose initializer fails, as with a
    broken ``initargs``) makes ``count_pretokens`` raise one clear error, within seconds. ``multiprocessing.Pool``
    started a new worker for ever while the batch waited: the count hung."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("the stand-ins below reach the workers by fork")
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    pre = PreTokenizer(REGEX)
    parent = os.getpid()
    real_init = bpe._init_worker

    def init_fails_in_workers(pretokenizer, native=None):
        if os.getpid() != parent:
            raise RuntimeError("no counter in this worker")
        real_init(pretokenizer, native)
    monkeypatch.setattr(bpe, "_init_worker", init_fails_in_workers)
    out = _within(60, lambda: bpe.count_pretokens(DOCS, pre, workers=2, batch_chars=50, native=False))
    assert isinstance(out.get("error"), TokenlabError), out
    assert str(out["error"]) == ("a pre-tokenizing worker process died (killed, out of memory, or it failed to start: "
                                 "see its error above); workers=1 counts in this process")
    monkeypatch.setattr(bpe, "_init_worker", real_init)

    _STATE.update(parent=parent, count_batch=bpe._count_batch)
    monkeypatch.setattr(bpe, "_count_batch", _die_in_a_worker)
    out = _within(60, lambda: bpe.count_pretokens(DOCS, pre, workers=2, batch_chars=50, native=False))
    assert isinstance(out.get("error"), TokenlabError) and "worker process died" in str(out["error"]), out
    monkeypatch.setattr(bpe, "_count_batch", _STATE["count_batch"])
    # the same pool, nothing broken: the plain count
    out = _within(60, lambda: bpe.count_pretokens(DOCS, pre, workers=2, batch_chars=50, native=False))
    assert out.get("value") == _plain_count(DOCS, pre), out


def test_the_process_pool_runs_its_initializer_with_its_arguments_in_each_worker():
    """``_pool(workers, initializer, initargs)``: that many processes, each set up by ``initializer(*initargs)``
    before it runs a job."""
    from tokenlab.train import bpe

    _STATE.pop("marker", None)
    pool = bpe._pool(2, _set_marker, ("set", "up"))
    try:
        assert pool._max_workers == 2
        got = [pool.submit(_marker).result(timeout=60) for _ in range(4)]
    finally:
        pool.shutdown()
    assert got == [("set", "up")] * 4 and "marker" not in _STATE


def _set_marker(*args):
    _STATE["marker"] = args


def _marker():
    return _STATE.get("marker")


CL100K_FAMILY_ID_6 = "|".join([  # the cl100k family's template with no parameter bit: kernel pattern id exactly 6
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)", r"[^\r\n\p{L}\p{N}]?\p{L}+", r"\p{N}+", r" ?[^\s\p{L}\p{N}]+[\r\n]*", r"\s+$",
    r"\s*[\r\n]", r"\s+(?!\S)", r"\s"])


def test_the_cl100k_family_pattern_with_id_6_counts_through_the_regex():
    """A pattern can have kernel id 6 (the cl100k family with no parameter bit: case-insensitive contractions, no
    marks, unbounded digit runs, single-character whitespace tail). The counting kernel runs only the named state
    machines 1..5 (it refuses 6), so ``c_counter`` gives None for it and counting goes through the regex."""
    from tokenlab.encode.patterns import native_pattern_id
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    pre = PreTokenizer(CL100K_FAMILY_ID_6)
    assert native_pattern_id(pre) == 6
    if bpe.c_counter(PreTokenizer("gpt2")) is None:
        pytest.skip("the C kernels are not built")
    assert bpe.c_counter(pre) is None
    docs = ["I'LL don't 12345  x\n\n  y", "Größe 東京 🤖 ...!!! \t\r\n"] * 3
    assert bpe._make_counter(pre)(docs) == _plain_count(docs, pre)
    assert bpe.count_pretokens(docs, pre, workers=1) == _plain_count(docs, pre)


def test_the_largest_node_count_the_int32_ids_hold_passes_the_size_check():
    """The trainer's node ids are int32: 2**31 - 2 pretoken bytes pass the size check (the next step, joining the
    words, is reached: the stand-in word below has only a length), 2**31 - 1 are refused."""
    from tokenlab.errors import InvalidInputError
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import bpe

    class Word:  # only its length is real: nothing is allocated
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n
    with pytest.raises(TypeError, match="bytes-like"):  # b"".join of the stand-in: past the check
        bpe.train_from_counts({Word(2**31 - 2): 1}, 300, PreTokenizer("gpt2"))
    with pytest.raises(InvalidInputError, match=r"^too many distinct pretoken bytes"):
        bpe.train_from_counts({Word(2**31 - 1): 1}, 300, PreTokenizer("gpt2"))


# ---------------------------------------------------------------------------------------------- io/hf_json.py

def _file(model, pre_tokenizer=None, added=()):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": list(added), "normalizer": None,
            "pre_tokenizer": pre_tokenizer or {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
            "model": model}


def _hf_result(tokenizers, d, text):
    try:
        hf = tokenizers.Tokenizer.from_str(json.dumps(d))
    except BaseException:  # noqa: BLE001 - HF refuses (a Rust panic is a BaseException)
        return "refused"
    try:
        return json.loads(hf.to_str())["model"]["type"], hf.encode(text).ids
    except BaseException:  # noqa: BLE001
        return "encode fails"


def _tokenlab_result(d, text):
    from tokenlab.io.hf_json import from_hf_dict

    try:
        tok = from_hf_dict(d)
    except FormatError:
        return "refused"
    kind = tok.model.type_name if hasattr(tok, "model") else None
    try:
        return kind, tok.encode(text)
    except TokenlabError:
        return "encode fails"


def _model_variants():
    """Models without a type (every mix of the fields that tell HF's models apart) and typed WordPiece / WordLevel
    with each field HF requires missing or null."""
    import itertools

    vocab = {"a": 0, "b": 1, "ab": 2, "[UNK]": 3, "##b": 4, "c": 5}
    pieces = [["a", -1.0], ["b", -2.0], ["ab", -0.5], ["[UNK]", -3.0], ["c", -2.5]]
    fields = {"merges": ["a b"], "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 4, "unk_id": 3}
    for vocab_value in (vocab, pieces, None):
        for r in range(len(fields) + 1):
            for keys in itertools.combinations(fields, r):
                if {"merges", "continuing_subword_prefix"} <= set(keys):
                    continue  # HF's BPE panics on a prefix its merges do not carry (a Rust slice error)
                model = {k: fields[k] for k in keys}
                if vocab_value is not None:
                    model["vocab"] = vocab_value
                yield model
    full = {"WordPiece": {"type": "WordPiece", "vocab": vocab, "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                          "max_input_chars_per_word": 4},
            "WordLevel": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}}
    for model in full.values():
        yield dict(model)
        for key in model:
            if key not in ("type", "vocab"):
                yield {k: v for k, v in model.items() if k != key}
                yield {**model, key: None}


def test_models_without_a_type_or_a_required_field_are_read_as_hf_reads_them():
    """HF reads a model without ``type`` as the first of BPE (vocab and merges), WordPiece (vocab, unk_token,
    continuing_subword_prefix, max_input_chars_per_word), WordLevel (vocab, unk_token), Unigram (a vocab list)
    whose fields are all there, and refuses it when none fits; a typed WordPiece or WordLevel without one of its
    fields is refused too (HF has no defaults for them). tokenlab reads and refuses the same files, takes the same
    model and gives the same ids."""
    tokenizers = pytest.importorskip("tokenizers")
    text = "ab a b abb c abcab zz a"
    kinds: Counter = Counter()
    for model in _model_variants():
        d = _file(model)
        hf, ours = _hf_result(tokenizers, d, text), _tokenlab_result(d, text)
        assert ours == hf, model
        kinds[hf if isinstance(hf, str) else hf[0]] += 1
    assert set(kinds) == {"BPE", "WordPiece", "WordLevel", "Unigram", "refused", "encode fails"}, kinds


def test_the_untyped_model_errors_say_what_is_missing():
    from tokenlab.io.hf_json import from_hf_dict

    with pytest.raises(FormatError) as info:
        from_hf_dict(_file({"vocab": {"a": 0}}), name="f.json")
    assert str(info.value) == ("f.json: model has no type and is none of HF's: BPE needs vocab and merges, WordPiece "
                               "vocab, unk_token, continuing_subword_prefix and max_input_chars_per_word, WordLevel "
                               "vocab and unk_token, Unigram a vocab list")
    with pytest.raises(FormatError, match=r"^model 'WordLevel' needs the field 'unk_token'$"):
        from_hf_dict(_file({"type": "WordLevel", "vocab": {"a": 0}, "unk_token": None}))
    with pytest.raises(FormatError, match=r"^g: model 'WordPiece' needs the field 'max_input_chars_per_word'$"):
        from_hf_dict(_file({"type": "WordPiece", "vocab": {"a": 0}, "unk_token": "a", "continuing_subword_prefix": ""}),
                     name="g")


def test_a_sparse_vocab_id_within_the_bound_that_counts_the_added_tokens_reads_like_hf():
    """Ids are bounded by the file's size (no huge tables from a small damaged file); the bound counts the added
    tokens too. A vocab id above 4 * (entries - added) + 2**20 but below 4 * (entries + added) + 2**20, which HF
    reads, is read, with HF's ids."""
    tokenizers = pytest.importorskip("tokenizers")
    n_added = 1000
    sparse_unk = 4 * (2 * 3 + n_added) + 2**20 - 100  # the vocab (3 entries) is counted twice by the bound
    assert sparse_unk >= 4 * (2 * 3 - n_added) + 2**20
    added = [{"id": 3 + k, "content": f"<t{k}>", "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for k in range(n_added)]
    d = _file({"type": "WordLevel", "vocab": {"a": 0, "b": 1, "[UNK]": sparse_unk}, "unk_token": "[UNK]"},
              added=added)
    text = "a <t999> zz b <t0>"
    want = tokenizers.Tokenizer.from_str(json.dumps(d)).encode(text).ids
    from tokenlab.io.hf_json import from_hf_dict

    tok = from_hf_dict(d)
    assert want == [0, 3 + 999, sparse_unk, 1, 3]
    assert tok.encode(text, allowed_special="all") == want


def test_an_exception_inside_a_component_is_a_corrupt_file_error_naming_the_file():
    """A component whose field has the wrong type and fails inside its constructor (not a check that names the
    field) is reported as a corrupt tokenizer.json with the exception, after the file's name; HF refuses it too."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io.hf_json import from_hf_dict

    d = _file({"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"},
              pre_tokenizer={"type": "CharDelimiterSplit", "delimiter": None})
    with pytest.raises(BaseException):  # noqa: B017 - HF's error type is its own
        tokenizers.Tokenizer.from_str(json.dumps(d))
    with pytest.raises(FormatError) as info:
        from_hf_dict(d, name="f.json")
    assert str(info.value) == "f.json: corrupt tokenizer.json: TypeError(\"object of type 'NoneType' has no len()\")"
    with pytest.raises(FormatError) as info:
        from_hf_dict(d)
    assert str(info.value) == "corrupt tokenizer.json: TypeError(\"object of type 'NoneType' has no len()\")"


# ------------------------------------------------------------------------ io/hf_metaspace.py, Unigram scores

def _unigram_file():
    pieces = [["<unk>", 0.0], ["▁a", -1.0], ["▁b", -2.0], ["a", -3.0], ["b", -3.5], ["▁", -4.0], ["▁ab", -1.5]]
    meta = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": meta, "post_processor": None, "decoder": dict(meta),
            "model": {"type": "Unigram", "unk_id": 0, "vocab": pieces, "byte_fallback": False}}


def test_a_unigram_piece_without_a_score_is_refused(tmp_path):
    """A Unigram piece needs a score: tokenlab's own JSON of a Metaspace Unigram model whose vocab lists a piece
    missing from ``scores`` (hand-edited) is refused with the file and the piece named. Read with a default score it
    could never be chosen here, while HF would read the export's default and choose it: other ids."""
    from tokenlab.io import load_tokenizer
    from tokenlab.io.hf_json import from_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceUnigram

    tok = from_hf_dict(_unigram_file())
    assert isinstance(tok, MetaspaceUnigram)
    path = tmp_path / "u.json"
    tok.save(path)
    assert load_tokenizer(path).encode("ab a b") == tok.encode("ab a b")
    d = json.loads(path.read_text(encoding="utf-8"))
    del d["scores"]["▁ab"]
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(FormatError) as info:
        load_tokenizer(path)
    assert str(info.value) == f"{path}: scores: piece '▁ab' has no score (1 without one)"
    del d["scores"]["a"], d["scores"]["▁a"]  # the first named is the first by id (▁a is 1, a is 3), not by text
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(FormatError) as info:
        load_tokenizer(path)
    assert str(info.value) == f"{path}: scores: piece '▁a' has no score (3 without one)"


def _added(entries):
    return [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
             "special": special} for i, c, special in entries]


def _models_for_added_tokens():
    """A WordLevel (the pipeline), a Metaspace Unigram (its own reader) and a byte-level BPE (the compiled path),
    each with 3 or 4 vocab entries (one of them maybe far from the rest)."""
    yield "wordlevel", lambda far: _file({"type": "WordLevel", "vocab": {"a": 0, "b": 1, "[UNK]": 2, **far},
                                          "unk_token": "[UNK]"})
    meta = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}

    def unigram(far):
        pieces = [["[UNK]", 0.0], ["▁a", -1.0], ["▁b", -1.5]] + [[t, -3.0] for t in far]
        return {**_file({"type": "Unigram", "unk_id": 0, "vocab": pieces, "byte_fallback": False}, meta),
                "decoder": dict(meta)}
    yield "unigram", unigram

    def byte_level(far):
        vocab = {"a": 0, "b": 1, "Ġ": 2, **far}
        return {**_file({"type": "BPE", "vocab": vocab, "merges": [], "ignore_merges": False},
                        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}),
                "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}}
    yield "byte-level", byte_level


def test_added_token_ids_hf_would_renumber_are_refused_and_the_rest_read_with_hfs_ids():
    """HF does not read an added token's id: one in the vocab takes the vocab's id, any other the next id after the
    vocab in list order. Random added-token lists (out of order, with gaps, some in the vocab, special or not): a
    file whose ids HF keeps reads with HF's ids; one HF would renumber is refused, naming the token, its id and HF's."""
    import random

    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io.hf_json import from_hf_dict

    rng = random.Random(15)
    seen = Counter()
    for kind, make in _models_for_added_tokens():
        for _ in range(40):
            far = {"zz": rng.choice([3, 9])} if rng.random() < 0.3 else {}
            base = make(far)
            in_vocab = {e[0]: i for i, e in enumerate(base["model"]["vocab"])} if kind == "unigram" else \
                base["model"]["vocab"]
            names = [f"<t{k}>" for k in range(rng.randint(1, 4))]
            if rng.random() < 0.4:
                names.append(rng.choice(sorted(in_vocab)))
            rng.shuffle(names)
            ids = list(range(len(in_vocab), len(in_vocab) + len(names)))
            if rng.random() < 0.6:  # out of order or with a gap
                ids = [rng.randint(0, len(in_vocab) + 6) for _ in names] if rng.random() < 0.5 else ids[::-1]
            ids = [in_vocab[c] if c in in_vocab and rng.random() < 0.7 else i for c, i in zip(names, ids)]
            if len(set(ids)) < len(ids):
                continue
            d = {**base, "added_tokens": _added((i, c, rng.random() < 0.5) for i, c in zip(ids, names))}
            hf = tokenizers.Tokenizer.from_str(json.dumps(d))
            hf_ids = [hf.token_to_id(c) for c in names]
            try:
                tok = from_hf_dict(d)
            except FormatError as exc:
                assert ids != hf_ids, (kind, names, ids, str(exc))  # refused only where HF does not keep the ids
                first = next(k for k, (i, h) in enumerate(zip(ids, hf_ids)) if i != h)
                want = (f"added_tokens: {names[first]!r} has the id {ids[first]}, but HF numbers it "
                        f"{hf_ids[first]} (an added token not in the vocab gets the next id after the vocab, in list "
                        "order)")
                shared = re.fullmatch(r"added_tokens: special '.*' has the id \d+ of the token '.*'", str(exc))
                assert str(exc) == want or shared, (kind, names, ids, str(exc))  # a shared id is refused first
                seen["refused" if str(exc) == want else "shared"] += 1
                continue
            assert ids == hf_ids, (kind, names, ids, hf_ids)
            text = " ".join(names)
            assert tok.encode(text, allowed_special="all") == hf.encode(text).ids, (kind, names, ids)
            seen["read"] += 1
    assert seen["read"] > 20 and seen["refused"] > 20, seen


def test_an_added_token_hf_would_renumber_is_refused_with_the_file_named():
    from tokenlab.io.hf_json import from_hf_dict

    d = _file({"type": "WordLevel", "vocab": {"a": 0, "b": 1, "[UNK]": 2}, "unk_token": "[UNK]"},
              added=_added([(4, "<b>", True), (3, "<a>", False)]))
    with pytest.raises(FormatError) as info:
        from_hf_dict(d, name="t.json")
    assert str(info.value) == ("t.json: added_tokens: '<b>' has the id 4, but HF numbers it 3 (an added token not in "
                               "the vocab gets the next id after the vocab, in list order)")
    d["added_tokens"] = _added([(1, "b", True), (3, "<a>", False), (4, "<b>", True)])  # a vocab token keeps its id
    assert from_hf_dict(d).encode("b <a> <b>", allowed_special="all") == [1, 3, 4]


def test_unigram_vocab_entries_hf_refuses_are_refused_naming_the_entry():
    """A Unigram vocab holds [piece, score] pairs, a string and a finite number: HF refuses a file with any other
    entry (a number or null for the piece, a string, boolean or null for the score, a wrong length, NaN or an
    infinity, which are not JSON), and so does tokenlab, naming the entry, before its added ids are checked. An
    integer score is a number for both."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io.hf_json import from_hf_dict

    def with_entry(entry):
        d = _unigram_file()
        d["model"]["vocab"].append(entry)
        d["added_tokens"] = _added([(9, "<x>", True)])  # an id HF would not give: refused only after the entries
        return d
    for bad in ([], ["x"], ["x", -1.0, 3], None, "ab", [5, -1.0], [None, -1.0], ["z", True], ["z", None],
                ["z", "1.0"], ["z", float("nan")], ["z", float("inf")], ["z", float("-inf")]):
        with pytest.raises(BaseException):  # noqa: B017 - HF's error type is its own
            tokenizers.Tokenizer.from_str(json.dumps(with_entry(bad)))
        with pytest.raises(FormatError) as info:
            from_hf_dict(with_entry(bad), name="u.json")
        assert str(info.value) == f"u.json: model.vocab[7]: expected [piece, score] (a string, a number), got {bad!r}"
    long = ["x" * 200, "-1.0"]  # the message is one line of at most 120 characters after the file and the field
    with pytest.raises(FormatError) as info:
        from_hf_dict(with_entry(long), name="u.json")
    assert str(info.value) == "u.json: model.vocab[7]: " + (f"expected [piece, score] (a string, a number), got "
                                                            f"{long!r}"[:120])
    d = with_entry(["z", -2])
    d["added_tokens"] = _added([(8, "<x>", True)])
    hf = tokenizers.Tokenizer.from_str(json.dumps(d))
    assert from_hf_dict(d).encode("z a <x>", allowed_special="all") == hf.encode("z a <x>").ids

def _encode_or_die(unit):
    """A unit of work for the corpus pool: done in the test's process, a worker that gets it is killed outright."""
    if os.getpid() != _STATE["parent"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return unit * unit


def test_a_dead_encoding_worker_fails_the_corpus_run_with_a_clear_error():
    """``encode_corpus``'s process pool (``corpus._pool_map``, the same ``_pool``) ends with one clear error when a
    worker dies, instead of waiting for its unit for ever; a pool whose workers live returns the units in order."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("the stand-in reaches the workers by fork")
    from tokenlab.corpus import _pool_map

    _STATE["parent"] = os.getpid()  # counted here (a pool not started) it would not die, and the test would fail
    out = _within(60, lambda: list(_pool_map(2, None)(_encode_or_die, [1, 2, 3])))
    assert isinstance(out.get("error"), TokenlabError), out
    assert str(out["error"]) == ("an encoding worker process died (killed, out of memory, or it failed to start: see "
                                 "its error above); workers=1 (--workers 1) encodes in this process")
    out = _within(60, lambda: list(_pool_map(2, None)(abs, [-1, 2, -3, 4, -5])))
    assert out.get("value") == [1, 2, 3, 4, 5], out
