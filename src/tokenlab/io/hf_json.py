"""HF ``tokenizers`` tokenizer.json for byte-level BPE (the GPT-2 / Llama-3 family)."""

from __future__ import annotations

import json
import re

from ..errors import FormatError
from ..pipeline.byte_map import bytes_to_unicode, unicode_to_bytes  # noqa: F401 - re-exported
from ..pretokenize import PATTERNS, PreTokenizer
from .atomic import atomic_write_text


def to_byte_level(b: bytes) -> str:
    t = bytes_to_unicode()
    return "".join(t[x] for x in b)


def from_byte_level(s: str) -> bytes:
    t = unicode_to_bytes()
    try:
        return bytes(t[c] for c in s)
    except KeyError as exc:
        raise FormatError(f"token {s!r} has a character outside the byte-level alphabet: {exc}") from None


_POSSESSIVE_INTERVAL = re.compile(r"(\\p\{\w+\}|\[(?:\\.|[^\]])*\]|\\.|[^\\])(\{\d+(?:,\d*)?\})\+")


def to_oniguruma(pattern: str) -> str:
    """Rewrite a ``regex``-module pattern for HF's Oniguruma engine.

    Oniguruma reads ``X{1,3}+`` as ``(X{1,3})+`` rather than a possessive interval, which
    would glue "0010" into one digit run; an atomic group keeps tiktoken's meaning."""
    return _POSSESSIVE_INTERVAL.sub(r"(?>\1\2)", pattern)


def _split_steps(pre: PreTokenizer) -> list[dict]:
    """A tokenlab pre-tokenizer's digit split and regex as HF ``Split`` pre-tokenizers."""
    steps = []
    if pre.split_digits:
        steps.append({"type": "Split", "pattern": {"Regex": rf"\p{{N}}{{1,{pre.split_digits}}}"},
                      "behavior": "Isolated", "invert": False})
    if pre.regex_str:  # an empty pattern keeps the text whole here; an empty HF Split would split every character
        steps.append({"type": "Split", "pattern": {"Regex": to_oniguruma(pre.regex_str)}, "behavior": "Isolated",
                      "invert": False})
    return steps


def _pretokenizer_json(pre: PreTokenizer) -> dict:
    steps = _split_steps(pre)
    steps.append({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False})
    return {"type": "Sequence", "pretokenizers": steps}


def _special_added_tokens(special_tokens: dict[str, int]) -> list[dict]:
    return [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
             "special": True} for s, i in sorted(special_tokens.items(), key=lambda kv: kv[1])]


def byte_level_pre_tokenizer(pre: PreTokenizer):
    """A tokenlab pre-tokenizer as the pipeline component tokenizer.json would hold (Split regexes + ByteLevel)."""
    from ..pipeline.pre_tokenizers import pre_tokenizer_from_dict

    return pre_tokenizer_from_dict(_pretokenizer_json(pre))


def to_hf_dict(tok) -> dict:
    """tokenizer.json content; ids are tokenlab's, specials become added special tokens."""
    vocab = {to_byte_level(t): i for t, i in sorted(tok.vocab.items(), key=lambda kv: kv[1])}
    for s, i in sorted(tok.special_tokens.items(), key=lambda kv: kv[1]):
        # in the model's vocab too: HF renumbers an added token that is not, after the vocab's size, so a
        # special id before or between ordinary ids (cl100k's 100257, a tokenizer extended after its
        # specials) would change
        if vocab.setdefault(s, i) != i:
            # HF gives an added token that is in the model's vocab that entry's id: it would encode the special
            # token as the ordinary one and could not decode its id
            raise FormatError(f"special token {s!r} (id {i}) has the text of ordinary token {vocab[s]}; HF would "
                              "give it that id, so the export would change ids")
    merges = [f"{to_byte_level(a)} {to_byte_level(b)}" for a, b in tok.merges]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": _special_added_tokens(tok.special_tokens),
        "normalizer": None,
        "pre_tokenizer": _pretokenizer_json(tok.pretokenizer),
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": tok.ignore_merges,
            "vocab": vocab,
            "merges": merges,
        },
    }


def unigram_to_hf_dict(tok) -> dict:
    """tokenizer.json of a byte-level `UnigramModel`: HF ``Unigram`` over GPT-2's byte characters, so pieces are
    byte strings and no byte_fallback/unk is needed. HF's ids equal ours (tested on real text); HF cannot express
    sampling with our seed, only its own ``alpha``/``nbest`` at training time."""
    order = sorted(tok.vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in order] != list(range(len(order))):
        raise FormatError("HF Unigram needs piece ids 0..n-1 without gaps")
    # HF numbers added tokens that are not pieces from n on, whatever id the file gives them
    extra = sorted(i for t, i in tok.special_tokens.items() if i >= len(order))
    if extra != list(range(len(order), len(order) + len(extra))):
        raise FormatError(f"HF Unigram gives special tokens the ids right after its {len(order)} pieces "
                          f"({len(order)}..{len(order) + len(extra) - 1}); this tokenizer's are {extra}, so HF "
                          "would encode them with other ids")
    d = to_hf_dict(tok)
    d["model"] = {"type": "Unigram", "unk_id": None, "byte_fallback": False,
                  "vocab": [[to_byte_level(t), tok.scores[t]] for t, _ in order]}
    return d


def char_bpe_to_hf_dict(tok) -> dict:
    """tokenizer.json of a `CharBPETokenizer`: Split regex pre-tokenizer (no ByteLevel), BPE with byte fallback
    (``<0xNN>`` tokens at ids 0..255)."""
    vocab = {f"<0x{b:02X}>": b for b in range(256)}
    clash = [t for t in tok.tokens if t in vocab]
    if clash:
        raise FormatError(f"token {clash[0]!r} looks like a byte-fallback token; cannot export to HF")
    vocab.update(tok.tokens)
    steps = _split_steps(tok.pretokenizer)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": _special_added_tokens(tok.special_tokens), "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": steps} if steps else None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in tok.merges]},
    }


def write_hf_dict(d: dict, path) -> None:
    """tokenizer.json content to ``path``, atomically."""
    atomic_write_text(path, json.dumps(d, ensure_ascii=False))


def write_hf_json(tok, path) -> None:
    """Write tokenizer.json. HF merges only listed pairs, so an ``any_split`` (tiktoken) tokenizer
    is exported with its derived merges; ids match tiktoken on real text (tested on cl100k)."""
    atomic_write_text(path, json.dumps(to_hf_dict(tok), ensure_ascii=False, indent=1))


def _parse_pretokenizer(node) -> PreTokenizer:
    if node is None:
        raise FormatError("tokenizer.json has no pre_tokenizer; tokenlab reads byte-level BPE only")
    steps = node["pretokenizers"] if node.get("type") == "Sequence" else [node]
    pattern, split_digits, saw_byte_level = None, None, False
    for st in steps:
        kind = st.get("type")
        if kind == "ByteLevel":
            saw_byte_level = True
            if st.get("add_prefix_space"):
                raise FormatError("ByteLevel add_prefix_space=true is not supported")
            if st.get("use_regex", True):
                if pattern is not None:
                    raise FormatError("two regex splits in pre_tokenizer are not supported")
                pattern = "gpt2"
        elif kind == "Split":
            rx = (st.get("pattern") or {}).get("Regex")
            if rx is None:
                raise FormatError("Split with a plain string pattern is not supported")
            if rx == "":  # HF splits every character there; tokenlab's empty pattern keeps the text whole
                raise FormatError("Split with an empty pattern is not supported (the pipeline reads it)")
            if st.get("behavior") != "Isolated" or st.get("invert"):
                raise FormatError(f"Split behavior {st.get('behavior')!r} is not supported (Isolated only)")
            import regex as _re

            m = _re.fullmatch(r"\\p\{N\}\{1,(\d+)\}", rx)
            if m and pattern is None and split_digits is None:
                split_digits = int(m.group(1))
                continue
            if pattern is not None:
                raise FormatError("two regex splits in pre_tokenizer are not supported")
            named = {to_oniguruma(v): k for k, v in PATTERNS.items() if v}
            named.update({v: k for k, v in PATTERNS.items() if v})
            pattern = named.get(rx, rx)
        elif kind == "Digits":
            if not st.get("individual_digits"):
                raise FormatError("Digits(individual_digits=false) is not supported")
            split_digits = 1
        else:
            raise FormatError(f"pre-tokenizer {kind!r} is not supported")
    if not saw_byte_level:
        raise FormatError("not a byte-level tokenizer (no ByteLevel pre-tokenizer)")
    return PreTokenizer(pattern, split_digits)


def from_hf_dict(d: dict, name: str = "", pipeline: bool = False):
    """A tokenizer for tokenizer.json content: the compiled byte-level BPE (`Tokenizer`) or the Metaspace
    models where the file is exactly theirs, else the general component pipeline (`PipelineTokenizer`),
    which reads every component HF has; ``pipeline=True`` always takes the pipeline."""
    from ..pipeline import PipelineTokenizer

    _validated(d, name)  # ids, specials and types: a damaged file is an error on every path
    if not pipeline:
        try:
            return _special_path(d, name)
        except FormatError:
            pass
    where = f"{name}: " if name else ""
    try:
        return PipelineTokenizer.from_hf_dict(d, name=name)
    except FormatError as exc:
        raise FormatError(f"{where}{exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise FormatError(f"{where}corrupt tokenizer.json: {exc!r}") from None


_TOP_LEVEL_KEYS = {"version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "model",
                   "post_processor", "decoder"}


_FLAGS = {"add_prefix_space", "trim_offsets", "use_regex", "invert", "individual_digits", "split", "clean_text",
          "handle_chinese_chars", "strip_accents", "lowercase", "cleanup", "fuse_unk", "byte_fallback",
          "ignore_merges", "left", "right"}


def _check_flags(node, name: str, where: str, depth: int = 0) -> None:
    """Boolean fields of every component are booleans (HF refuses a string or a number there)."""
    from .validate import fail

    if depth > 50:
        raise fail(name, where, "components nested too deeply")
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _FLAGS and v is not None and not isinstance(v, bool):
                raise fail(name, f"{where}.{k}", f"must be true or false, got {str(v)[:40]!r}")
            if isinstance(v, (dict, list)) and k not in ("vocab", "merges"):
                _check_flags(v, name, f"{where}.{k}", depth + 1)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, (dict, list)):
                _check_flags(v, name, f"{where}[{i}]", depth + 1)


def _validated(d, name: str):
    """(vocab {token: id}, {id: token}, added tokens {content: id}) of a tokenizer.json, checked: ids
    non-negative, unique and bounded by the file, added tokens listed once and not clashing with the vocab."""
    from .validate import check_ids, check_specials, check_type, fail, id_limit

    check_type(d, dict, name, "tokenizer.json", "an object")
    unknown = set(d) - _TOP_LEVEL_KEYS
    if unknown:  # HF refuses unknown fields; silently ignoring e.g. a misspelt "pre_tokenizer" would change ids
        raise fail(name, sorted(unknown)[0], "unknown field of tokenizer.json")
    for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder", "model"):
        _check_flags(d.get(key), name, key)
    model = check_type(d.get("model"), dict, name, "model", "an object")
    if model.get("type", "BPE" if "merges" in model else None) == "BPE" and ("vocab" not in model
                                                                          or "merges" not in model):
        raise fail(name, "model", "BPE model without vocab or merges")
    raw_vocab = model.get("vocab") if isinstance(model.get("vocab"), dict) else {}
    added = check_type(d.get("added_tokens") or [], list, name, "added_tokens", "a list")
    limit = id_limit(len(raw_vocab) + len(added) + len(model.get("vocab") or ()))
    by_content = check_ids(((s, i) for s, i in raw_vocab.items()), name, "model.vocab", limit=limit)
    by_id = {i: s for s, i in by_content.items()}
    pairs = {}
    for n, a in enumerate(added):
        check_type(a, dict, name, f"added_tokens[{n}]", "an object")
        if a.get("content") in pairs:
            raise fail(name, "added_tokens", f"{a.get('content')!r} is listed twice")
        pairs[a.get("content")] = a.get("id")
    specials = check_specials(pairs, name, "added_tokens", limit=limit, taken=by_id, allow_same=by_content)
    _check_unigram_pieces(model.get("vocab"), name)
    _check_added_ids_as_hf(model.get("vocab"), specials, name)
    return by_content, by_id, specials


def _check_unigram_pieces(vocab, name: str) -> None:
    """A Unigram vocab (a list) holds [piece, score] pairs: a string and a finite number, as HF's parser requires
    (it refuses a number for the piece, a string or a boolean for the score, NaN and infinities)."""
    import math

    from .validate import fail

    if not isinstance(vocab, list):
        return
    for n, entry in enumerate(vocab):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and (type(entry[1]) is int or type(entry[1]) is float and math.isfinite(entry[1]))):
            raise fail(name, f"model.vocab[{n}]", f"expected [piece, score] (a string, a number), got {entry!r}"[:120])


def _check_added_ids_as_hf(vocab, added: dict[str, int], name: str) -> None:
    """HF does not read an added token's id: one in the vocab takes the vocab's id, any other the next id after
    the vocab (its size, or one more than the largest added id when that is past it), in list order. A file whose
    ids differ would give other ids here than in HF: refused."""
    from .validate import fail

    if isinstance(vocab, list):  # Unigram: [piece, score] pairs (checked), numbered in order (the first of a repeat)
        vocab = {piece: i for i, (piece, _) in reversed(list(enumerate(vocab)))}
    if not isinstance(vocab, dict):
        return
    size, top = len(vocab), None
    for content, i in added.items():
        want = vocab.get(content)
        if want is None:
            want = size if top is None or (top < size and size) else top + 1
        if i != want:
            raise fail(name, "added_tokens", f"{content!r} has the id {i}, but HF numbers it {want} (an added token "
                                             "not in the vocab gets the next id after the vocab, in list order)")
        top = want if top is None else max(top, want)


def _needs_pipeline(d: dict) -> str | None:
    """Why the special paths would not be exact for this file (None: they are)."""
    for a in d.get("added_tokens") or []:
        if a.get("lstrip") or a.get("rstrip") or a.get("single_word"):
            return "added token with lstrip/rstrip/single_word"
    return None


def _special_path(d: dict, name: str = ""):
    from ..tokenizer import Tokenizer
    from . import hf_metaspace
    from .validate import check_type, fail

    why = _needs_pipeline(d)
    if why:
        raise FormatError(why)
    model = d["model"]
    try:
        if hf_metaspace.is_metaspace_bpe(d):
            tok = hf_metaspace.from_hf_dict(d, name=name)  # Llama-style: characters, "▁", byte fallback
            tok._hf_source = d  # the file's components, for offsets (`tokenlab.offsets`)
            return tok
        if model.get("type", "BPE") != "BPE":
            raise FormatError(f"model type {model.get('type')!r} is not BPE")
        if d.get("normalizer") is not None:
            raise FormatError(f"normalizer {d['normalizer'].get('type')!r} is not supported")
        if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
            raise FormatError("BPE with subword prefix/suffix is not byte-level")
        if model.get("dropout") or model.get("unk_token") is not None:  # byte_fallback: Metaspace, above
            raise FormatError("BPE with dropout/unk_token is not the compiled byte-level BPE")
        if (d.get("decoder") or {}).get("type", "ByteLevel") != "ByteLevel":
            raise FormatError("decoder other than ByteLevel")
        pre = _parse_pretokenizer(d.get("pre_tokenizer"))
        if any(not a.get("special", True) and a.get("normalized", True) for a in d.get("added_tokens", [])):
            raise FormatError("normalized added tokens")
        by_content, _, specials = _validated(d, name)  # ignore_merges is true, false or null: checked there
        special_ids = set(specials.values())
        # distinct strings are distinct bytes: the byte-level alphabet is one character per byte
        vocab = {from_byte_level(s): i for s, i in by_content.items() if i not in special_ids}
        merges = []
        for n, m in enumerate(check_type(model.get("merges", []), list, name, "model.merges", "a list")):
            parts = m.split(" ") if isinstance(m, str) else m
            if not isinstance(parts, list) or len(parts) != 2 or not all(isinstance(p, str) for p in parts):
                raise fail(name, f"model.merges[{n}]", f"expected 'left right' or [left, right], got {m!r}"[:120])
            merges.append((from_byte_level(parts[0]), from_byte_level(parts[1])))
        if len(set(merges)) != len(merges):  # HF keeps the last rank of a repeated merge: so do we
            last = {m: r for r, m in enumerate(merges)}
            merges = [m for r, m in enumerate(merges) if last[m] == r]
        tok = Tokenizer(vocab=vocab, merges=merges, pretokenizer=pre, special_tokens=specials,
                        ignore_merges=bool(model.get("ignore_merges", False)), name=name)
        if d.get("post_processor") is not None:  # templates / offset trimming, for encode_full and batch_encode
            tok._hf_post_processor = d["post_processor"]
        return tok
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"corrupt tokenizer.json: {exc!r}") from None


def read_hf_json(path, pipeline: bool = False):
    from .validate import load_json

    return from_hf_dict(load_json(path), name=str(path), pipeline=pipeline)
