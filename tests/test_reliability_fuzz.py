"""Issue 14: a structure-aware fuzzer over every tokenizer file reader.

Each format gets >= 2,000 seeded mutations of a valid file: byte flips, truncations, span deletions and
duplications, plus mutations that know the structure (JSON values replaced by other types and values,
entries deleted, duplicated or swapped; .tiktoken and vocab.txt lines; SentencePiece protobuf fields
dropped, duplicated, reordered, truncated at field boundaries or given other values). Every case must end
in one of:

* ``error``: a TokenlabError (the CLI prints it as one ``error:`` line);
* ``same``: the file loads and its ids on a probe text equal the unmutated file's;
* ``reference``: the file loads with other ids, and the reference library (tokenizers, tiktoken,
  sentencepiece, mistral-common) also loads it and gives the same ids.

Never a traceback (any other exception), a hang (a per-case alarm) or other ids without an error.
tokenlab json has no outside reader: its reference is HF tokenizers running the tokenizer.json export
of what was loaded (so a load that built an inconsistent tokenizer still fails).
The counts of the last run are in docs/reliability.md; set TOKENLAB_FUZZ_REPORT=path to write them.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import random
import signal
from collections import Counter
from pathlib import Path

import pytest

from tokenlab.errors import TokenlabError
from tokenlab.io import load_tokenizer

from reliability_util import metaspace_json, small_tokenizer, tekken_json, tiktoken_text, tokenlab_json

CASES = int(os.environ.get("TOKENLAB_FUZZ_CASES", "2000"))
PROBE = "hello the world, héllo wörld 123 ok!\n  tab\tend"
VALUES = [None, True, False, -1, 0, 1, 255, 256, 2**31, 2**63, 10**12, -(2**63), 1.5, float("nan"), "", "x", "é",
          "AA==", [], {}, [0], [1, 2], {"a": 1}, "▁", "<unk>", "Sequence", "BPE"]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


# ---------------------------------------------------------------- generic mutations
def byte_mutation(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    op = rng.randrange(6)
    i = rng.randrange(len(data))
    if op == 0:  # flip bits of one byte
        return data[:i] + bytes([data[i] ^ rng.randrange(1, 256)]) + data[i + 1:]
    if op == 1:  # truncate
        return data[:i]
    if op == 2:  # delete a span
        return data[:i] + data[i + rng.randrange(1, 64):]
    if op == 3:  # duplicate a span
        j = min(len(data), i + rng.randrange(1, 64))
        return data[:j] + data[i:j] + data[j:]
    if op == 4:  # insert a random byte
        return data[:i] + bytes([rng.randrange(256)]) + data[i:]
    return data[: len(data) - rng.randrange(1, 8)]  # cut a few bytes off the end


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for k, v in enumerate(obj):
            yield from _paths(v, prefix + (k,))


def json_mutation(rng: random.Random, obj, paths: list) -> object:
    obj = copy.deepcopy(obj)
    path = rng.choice(paths[1:])
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    node = parent[key]
    op = rng.randrange(7)
    if op == 0:
        parent[key] = copy.deepcopy(rng.choice(VALUES))
    elif op == 1 and isinstance(node, int) and not isinstance(node, bool):
        parent[key] = rng.choice([node + 1, node - 1, -node, node + rng.randrange(1, 400), node * 1000])
    elif op == 2:  # delete the entry
        del parent[key]
    elif op == 3 and isinstance(parent, list):  # duplicate or swap siblings
        other = rng.randrange(len(parent))
        if rng.random() < 0.5:
            parent.insert(other, copy.deepcopy(node))
        else:
            parent[key], parent[other] = parent[other], parent[key]
    elif op == 4:  # another node of the same file in its place (right types, wrong place)
        source = obj
        for k in rng.choice(paths):
            try:
                source = source[k]
            except (KeyError, IndexError, TypeError):
                break
        parent[key] = copy.deepcopy(source)
    elif op == 5 and isinstance(node, str):
        parent[key] = rng.choice([node[:-1], node + node[-1:], node[::-1], node.upper(), "", node + " x"])
    elif op == 6 and isinstance(node, (list, dict)) and node:
        parent[key] = type(node)() if rng.random() < 0.5 else node
    else:
        parent[key] = copy.deepcopy(rng.choice(VALUES))
    return obj


def line_mutation(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    op = rng.randrange(6)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(rng.randrange(len(lines)), lines[i])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:
        parts = lines[i].split()
        if len(parts) == 2:
            value = rng.choice(["-1", "0", str(len(lines)), str(len(lines) + 7), str(2**31), str(2**63), "x", "1.5"])
            lines[i] = f"{parts[0]} {value}\n"
    elif op == 4:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    else:
        lines = lines[:i]
    return "".join(lines)


# ---------------------------------------------------------------- protobuf (SentencePiece)
def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def _split_fields(data: bytes) -> list[tuple[int, int, bytes | int]]:
    out, i = [], 0
    while i < len(data):
        key, i = _read_varint(data, i)
        wire = key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            size, i = _read_varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            value, i = data[i:i + 8], i + 8
        out.append((key >> 3, wire, value))
    return out


def _join_fields(fields) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _varint(number << 3 | wire)
        if wire == 0:
            out += _varint(value)
        elif wire == 2:
            out += _varint(len(value)) + value
        else:
            out += value
    return bytes(out)


def proto_mutation(rng: random.Random, data: bytes) -> bytes:
    fields = _split_fields(data)
    i = rng.randrange(len(fields))
    op = rng.randrange(8)
    if op == 0:
        del fields[i]
    elif op == 1:
        fields.insert(rng.randrange(len(fields)), fields[i])
    elif op == 2:
        j = rng.randrange(len(fields))
        fields[i], fields[j] = fields[j], fields[i]
    elif op == 3:  # cut at a field boundary (what sentencepiece must refuse, and so must we)
        fields = fields[:i]
    else:  # change one sub-field of a piece, the trainer spec or the normalizer spec
        number, wire, value = fields[i]
        if wire != 2 or not value:
            return _join_fields(fields)
        try:
            inner = _split_fields(value)
        except IndexError:
            return _join_fields(fields)
        if not inner:
            return _join_fields(fields)
        k = rng.randrange(len(inner))
        f, w, v = inner[k]
        if op == 4:
            del inner[k]
        elif op == 5 and w == 0:
            inner[k] = (f, w, rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 99, 2**32, 2**63]))
        elif op == 6 and w == 2:
            inner[k] = (f, w, rng.choice([b"", b"<unk>", b"\xe2\x96\x81", b"a", v + v, v[:-1], b"\xff"]))
        elif w == 5:
            inner[k] = (f, w, rng.choice([b"\x00\x00\xc0\x7f", b"\x00\x00\x80\xff", b"\x00\x00\x00\x00"]))
        else:
            inner.append((rng.choice([1, 2, 3, 24, 35, 44]), 0, rng.randrange(3)))
        fields[i] = (number, wire, _join_fields(inner))
    return _join_fields(fields)


# ---------------------------------------------------------------- formats: file, name, structure, reference
def _hf_ids(text: str, probe: str):
    import tokenizers

    return tokenizers.Tokenizer.from_str(text).encode(probe, add_special_tokens=False).ids


def _ref_tokenlab(path, data, tok):
    from tokenlab.io import to_hf_json_str

    return _hf_ids(to_hf_json_str(tok), PROBE)


def _ref_hf(path, data, tok):
    return _hf_ids(data.decode("utf-8"), PROBE)


def _ref_tiktoken(path, data, tok):
    import tiktoken

    from tokenlab.pretokenize import CL100K_PATTERN

    # tiktoken.load.load_tiktoken_bpe caches by path name, so a rewritten file would read stale: parse the
    # lines the way it does (every non-empty line is "base64 rank")
    ranks = {base64.b64decode(t): int(r) for t, r in (line.split() for line in data.splitlines() if line)}
    return tiktoken.Encoding("fuzz", pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={}).encode_ordinary(
        PROBE)


def _ref_tekken(path, data, tok):
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    return Tekkenizer.from_file(str(path)).encode(PROBE, bos=False, eos=False)


def _ref_sentencepiece(path, data, tok):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_proto=data).encode(PROBE)


def _ref_vocab_txt(path, data, tok):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    ref = Tokenizer(models.WordPiece.from_file(str(path), unk_token="[UNK]"))
    ref.normalizer = normalizers.BertNormalizer(lowercase=True)
    ref.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return ref.encode(PROBE, add_special_tokens=False).ids


def _sentencepiece_model() -> bytes:
    spm = pytest.importorskip("sentencepiece")
    lines = [f"hello the world {w} héllo wörld ok tab end {i}" for i, w in enumerate(["a", "b", "c"] * 100)]
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=out, vocab_size=60,
                                   model_type="unigram", minloglevel=2, character_coverage=1.0,
                                   normalization_rule_name="identity")  # the 180 kB charsmap: its own test below
    return out.getvalue()


def _vocab_txt() -> str:
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", "1", "2", "3", "12", "123", "hello", "the",
             "world", "wo", "##rl", "##d", "he", "##llo", "ok", "tab", "end", "h", "e", "l", "o", "w", "r", "d", "t",
             "a", "b", "n", "k", "##o", "##l", "##e", "##r", "##a", "##b", "##n", "##k", "##3", "##2"]
    return "".join(w + "\n" for w in words)


FORMATS = {
    # name: (file name, make bytes, structure kind, reference)
    "tokenlab-json": ("tok.json", lambda: json.dumps(tokenlab_json()).encode(), "json", _ref_tokenlab),
    "hf-byte-level": ("tokenizer.json", lambda: _hf_bytes(), "json", _ref_hf),
    "hf-metaspace": ("tokenizer.json", lambda: json.dumps(metaspace_json(), ensure_ascii=False).encode(), "json",
                     _ref_hf),
    "tiktoken": ("ranks.tiktoken", lambda: tiktoken_text().encode(), "lines", _ref_tiktoken),
    "tekken": ("tekken.json", lambda: json.dumps(tekken_json()).encode(), "json", _ref_tekken),
    "sentencepiece": ("m.model", _sentencepiece_model, "proto", _ref_sentencepiece),
    "vocab-txt": ("vocab.txt", lambda: _vocab_txt().encode(), "lines", _ref_vocab_txt),
}


def _hf_bytes() -> bytes:
    from tokenlab.io import to_hf_json_str

    return to_hf_json_str(small_tokenizer()).encode()


def _ours(path):
    tok = load_tokenizer(path)
    return tok, list(tok.encode_ordinary(PROBE))


def _mutate(rng, kind, data: bytes, parsed, paths) -> bytes:
    if rng.random() < 0.45:
        return byte_mutation(rng, data)
    if kind == "json":
        return json.dumps(json_mutation(rng, parsed, paths), ensure_ascii=rng.random() < 0.5).encode()
    if kind == "lines":
        return line_mutation(rng, data.decode("utf-8")).encode("utf-8")
    return proto_mutation(rng, data)


def run_fuzz(name: str, cases: int, tmp_path: Path, seed: int = 14) -> Counter:
    filename, make, kind, reference = FORMATS[name]
    data = make()
    path = tmp_path / filename
    path.write_bytes(data)
    base_tok, base = _ours(path)
    assert reference(path, data, base_tok) == base, f"{name}: the unmutated file must agree with the reference"
    parsed = json.loads(data) if kind == "json" else None
    paths = list(_paths(parsed)) if kind == "json" else None
    rng = random.Random(f"{seed}-{name}")
    outcomes: Counter = Counter()
    failures = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case in range(cases):
            mutated = _mutate(rng, kind, data, parsed, paths)
            path.write_bytes(mutated)
            signal.alarm(20)
            try:
                try:
                    tok, ids = _ours(path)
                except TokenlabError:
                    outcomes["error"] += 1
                    continue
                if ids == base:
                    outcomes["same"] += 1
                    continue
                try:
                    want = reference(path, mutated, tok)
                except Hang:
                    raise
                except BaseException as exc:  # the reference refuses the file that we loaded
                    want = f"reference refused: {type(exc).__name__}: {str(exc)[:100]}"
                if want == ids:
                    outcomes["reference"] += 1
                else:
                    outcomes["DIFFERENT IDS"] += 1
                    failures.append((case, f"ours {ids[:12]} reference {str(want)[:160]}", mutated[:300]))
            except Hang:
                outcomes["HANG"] += 1
                failures.append((case, "hang", mutated[:300]))
            except Exception as exc:
                outcomes["TRACEBACK"] += 1
                failures.append((case, f"{type(exc).__name__}: {str(exc)[:200]}", mutated[:300]))
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    report = os.environ.get("TOKENLAB_FUZZ_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({"format": name, "cases": cases, **outcomes}) + "\n")
    assert not failures, f"{name}: {len(failures)} bad cases, first: {failures[:3]}"
    assert sum(outcomes.values()) == cases
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FORMATS))
def test_fuzz_reader(name, tmp_path):
    if name == "tekken":
        pytest.importorskip("mistral_common")
    outcomes = run_fuzz(name, CASES, tmp_path)
    assert CASES >= 2000 or os.environ.get("TOKENLAB_FUZZ_CASES")
    assert outcomes["error"] > 0  # the mutations do reach the checks


def test_fuzz_smoke(tmp_path):
    """A short run of every format in the default (fast) selection."""
    for name in FORMATS:
        if name == "tekken":
            try:
                import mistral_common  # noqa: F401
            except ImportError:
                continue
        run_fuzz(name, 60, tmp_path / name if (tmp_path / name).mkdir() is None else tmp_path, seed=1)


@pytest.mark.slow
def test_damaged_charsmap_is_refused_or_equal_to_sentencepiece(tmp_path):
    """Byte flips inside a real precompiled_charsmap (nmt_nfkc): refused as sentencepiece refuses them."""
    spm = pytest.importorskip("sentencepiece")
    lines = [f"hello the world {i} héllo ｗörld ﬁ ①" for i in range(300)]
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=out, vocab_size=60,
                                   model_type="unigram", minloglevel=2, character_coverage=1.0)
    data = out.getvalue()
    path = tmp_path / "m.model"
    path.write_bytes(data)
    base = list(load_tokenizer(path).encode_ordinary(PROBE))
    norm = next(v for f, w, v in _split_fields(data) if f == 3)
    start = data.find(norm)
    rng = random.Random(14)
    outcomes = Counter()
    for _ in range(25):
        i = start + rng.randrange(len(norm))
        mutated = data[:i] + bytes([data[i] ^ rng.randrange(1, 256)]) + data[i + 1:]
        path.write_bytes(mutated)
        try:
            ids = list(load_tokenizer(path).encode_ordinary(PROBE))
        except TokenlabError:
            outcomes["error"] += 1
            continue
        if ids == base:
            outcomes["same"] += 1
        else:
            assert ids == spm.SentencePieceProcessor(model_proto=mutated).encode(PROBE)
            outcomes["reference"] += 1
    assert outcomes["error"] > 0
