"""HF tokenizer.json files of the SentencePiece-style models (Llama / Mistral-v0.1 / Gemma BPE over characters with
"▁" for spaces, T5 / XLM-R / ALBERT Unigram): the file's normalizer, Metaspace pre-tokenizer, model, decoder and
added tokens read into `tokenlab.models.metaspace_bpe.MetaspaceBPE` / `MetaspaceUnigram` (their fast path);
anything else in the file is refused with a clear error rather than silently ignored."""

from __future__ import annotations

from ..errors import FormatError
from ..models.metaspace_bpe import _UNICODE_FORMS, SPACE, MetaspaceBPE, MetaspaceUnigram


def is_metaspace_bpe(d: dict) -> bool:
    """A tokenizer.json whose BPE (or Unigram) works on characters with "▁" spaces, not GPT-2 byte symbols."""
    model = d.get("model") or {}
    if model.get("type") == "Unigram":
        return True
    if model.get("type", "BPE") != "BPE":
        return False
    text = repr(d.get("normalizer")) + repr(d.get("pre_tokenizer")) + repr(d.get("decoder"))
    return bool(model.get("byte_fallback")) or "Metaspace" in text or SPACE in text


def _steps(spec, where: str) -> list[dict]:
    if spec is None:
        return []
    if not isinstance(spec, dict):
        raise FormatError(f"{where}: expected an object, got {type(spec).__name__}")
    if spec.get("type") == "Sequence":
        key = "normalizers" if where == "normalizer" else "pretokenizers" if where == "pre_tokenizer" else "decoders"
        if not isinstance(spec.get(key), list):
            raise FormatError(f"{where}.{key}: expected a list")
        return [step for item in spec[key] for step in _steps(item, where)]
    return [spec]


def _string_fields(step: dict, *keys: str) -> None:
    for key in keys:
        value = step.get(key)
        if isinstance(value, dict) and key == "pattern":
            value = value.get("String", value.get("Regex"))
        if not isinstance(value, str):
            raise FormatError(f"normalizer {step.get('type')!r}: {key} must be a string, got {value!r}"[:160])


def _normalizer_steps(spec) -> list[dict]:
    out = []
    for step in _steps(spec, "normalizer"):
        kind = step.get("type")
        if kind in ("Replace",):
            _string_fields(step, "pattern", "content")
        elif kind == "Prepend":
            _string_fields(step, "prepend")
        elif kind == "Precompiled" and step.get("precompiled_charsmap"):
            _string_fields(step, "precompiled_charsmap")
        if kind == "Replace":
            pattern = step["pattern"]  # a dict holding a string: checked above
            if "String" in pattern:
                out.append({"type": "Replace", "pattern": pattern["String"], "content": step["content"]})
            else:
                out.append({"type": "ReplaceRegex", "pattern": pattern["Regex"], "content": step["content"]})
        elif kind == "Precompiled":
            if step.get("precompiled_charsmap"):
                out.append({"type": "Precompiled", "precompiled_charsmap": step["precompiled_charsmap"]})
        elif kind == "Prepend":
            out.append({"type": "Prepend", "prepend": step["prepend"]})
        elif kind in ("Lowercase", *_UNICODE_FORMS):
            out.append({"type": kind})
        else:
            raise FormatError(f"normalizer {kind!r} is not supported")
    return out


def _metaspace(spec) -> dict | None:
    steps = _steps(spec, "pre_tokenizer")
    if not steps:
        return None
    whitespace_split = len(steps) == 2 and steps[0].get("type") == "WhitespaceSplit"  # T5's pipeline
    if whitespace_split:
        steps = steps[1:]
    if len(steps) != 1 or steps[0].get("type") != "Metaspace":
        raise FormatError(f"pre-tokenizer {[s.get('type') for s in _steps(spec, 'pre_tokenizer')]} is not "
                          "supported with a Metaspace model")
    step = steps[0]
    scheme = step.get("prepend_scheme")
    if scheme is None:  # files written before tokenizers 0.19
        scheme = "always" if step.get("add_prefix_space", True) else "never"
    if scheme not in ("always", "first", "never"):
        raise FormatError(f"Metaspace prepend_scheme {scheme!r} is not supported")
    if not isinstance(step.get("replacement", SPACE), str) or len(step.get("replacement", SPACE)) != 1:
        raise FormatError(f"pre_tokenizer: Metaspace replacement must be one character, got "
                          f"{step.get('replacement')!r}"[:160])
    return {"replacement": step.get("replacement", SPACE), "prepend_scheme": scheme,
            "split": bool(step.get("split", True)), "whitespace_split": whitespace_split}


def _has_byte_decoder(spec) -> bool:
    return any(step.get("type") == "ByteFallback" for step in _steps(spec, "decoder"))


def _strip_mode(spec) -> str:
    for step in _steps(spec, "decoder"):
        kind = step.get("type")
        if kind == "Strip" and step.get("start", 0) >= 1 and step.get("content", " ") == " ":
            return "fused"
        if kind == "Metaspace" and (step.get("prepend_scheme") or
                                    ("always" if step.get("add_prefix_space", True) else "never")) != "never":
            return "first_token"
    return "none"


def from_hf_dict(d: dict, name: str = "") -> MetaspaceBPE:
    model = d["model"]
    if model.get("type") == "Unigram":
        return _unigram_from_hf_dict(d, name)
    if model.get("dropout"):
        raise FormatError("BPE dropout in tokenizer.json is not supported (use tokenlab's bpe-dropout method)")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise FormatError("BPE with subword prefix/suffix is not supported")
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    if any(len(m) != 2 or not all(isinstance(x, str) for x in m) for m in merges):
        raise FormatError("model.merges: expected 'left right' or [left, right] entries")
    specials, added, vocab = _checked_tables(d, name)  # vocab holds the added tokens and specials too
    return _added_as_hf_matches(MetaspaceBPE(vocab, merges, normalizers=_normalizer_steps(d.get("normalizer")),
                        metaspace=_metaspace(d.get("pre_tokenizer")), byte_fallback=bool(model.get("byte_fallback")),
                        unk_token=model.get("unk_token"), fuse_unk=bool(model.get("fuse_unk")),
                        ignore_merges=bool(model.get("ignore_merges")), special_tokens=specials,
                        strip_decoded=_strip_mode(d.get("decoder")), added_tokens=added,
                        byte_decoder=_has_byte_decoder(d.get("decoder")), name=name))


def _added_as_hf_matches(tok: MetaspaceBPE) -> MetaspaceBPE:
    """HF matches a normalized added token by its content run through the normalizer ("hel" is "▁hel" after a
    Prepend); the model matches the content as written, so such a file goes to the pipeline (`io.hf_json`)."""
    for token, (_, normalized) in tok.added_tokens.items():
        if normalized and tok.normalize(token) != token:
            raise FormatError(f"added token {token!r} is matched after the normalizer as "
                              f"{tok.normalize(token)!r}; the pipeline reads such files")
    return tok


def _checked_tables(d: dict, name: str, vocab: dict | None = None):
    """(specials, non-special added tokens, vocab with the added tokens) with ids checked: non-negative,
    bounded, unique; an added token may share an id only with the vocab token of the same text. An added token
    without the flags HF writes for each is special and not normalized."""
    from .validate import check_ids, check_specials, check_type, fail, id_limit

    added_list = check_type(d.get("added_tokens") or [], list, name, "added_tokens", "a list")
    if vocab is None:
        raw = check_type(d["model"].get("vocab"), dict, name, "model.vocab", "an object {token: id}")
        vocab = check_ids(raw.items(), name, "model.vocab", limit=id_limit(len(raw) + len(added_list)))
    by_id = {i: t for t, i in vocab.items()}
    everything: dict[str, int] = {}
    flags: dict[str, tuple[bool, bool]] = {}
    for n, a in enumerate(added_list):
        check_type(a, dict, name, f"added_tokens[{n}]", "an object")
        if a.get("content") in everything:
            raise fail(name, "added_tokens", f"{a.get('content')!r} is listed twice")
        everything[a.get("content")] = a.get("id")
        flags[a.get("content")] = (bool(a.get("special", True)), bool(a.get("normalized", False)))
    checked = check_specials(everything, name, "added_tokens", limit=id_limit(len(vocab) + len(added_list)),
                             taken=by_id, allow_same=vocab)
    specials = {t: i for t, i in checked.items() if flags[t][0]}
    added = {t: (i, flags[t][1]) for t, i in checked.items() if not flags[t][0]}
    merged = dict(vocab)
    for content, i in checked.items():
        merged.setdefault(content, i)
    return specials, added, merged


def _unigram_from_hf_dict(d: dict, name: str) -> MetaspaceUnigram:
    model = d["model"]
    pieces = [(str(p), float(score)) for p, score in model["vocab"]]
    vocab = {p: i for i, (p, _) in reversed(list(enumerate(pieces)))}
    unk_id = model.get("unk_id")
    if unk_id is not None and (isinstance(unk_id, bool) or not isinstance(unk_id, int)
                               or not 0 <= unk_id < len(pieces)):
        raise FormatError(f"model.unk_id: {unk_id!r} is not the index of a piece")
    specials, added, _ = _checked_tables(d, name, vocab=vocab)
    tok = MetaspaceUnigram(vocab, dict(pieces), normalizers=_normalizer_steps(d.get("normalizer")),
                            metaspace=_metaspace(d.get("pre_tokenizer")),
                            byte_fallback=bool(model.get("byte_fallback")),
                            unk_token=pieces[unk_id][0] if unk_id is not None else None, fuse_unk=True,
                            special_tokens=specials, strip_decoded=_strip_mode(d.get("decoder")),
                            added_tokens=added, byte_decoder=_has_byte_decoder(d.get("decoder")), name=name)
    return _added_as_hf_matches(tok)


def to_hf_dict(tok: MetaspaceBPE) -> dict:
    """tokenizer.json of a Metaspace model (the inverse of :func:`from_hf_dict`), e.g. for one loaded from its own
    JSON: normalizer steps, Metaspace pre-tokenizer, BPE or Unigram, the decoder its ``strip_decoded`` /
    ``byte_decoder`` stand for, added tokens."""
    normalizers = []
    for n in tok.normalizers:
        kind = n["type"]
        if kind in ("Replace", "ReplaceRegex"):
            key = "String" if kind == "Replace" else "Regex"
            normalizers.append({"type": "Replace", "pattern": {key: n["pattern"]}, "content": n["content"]})
        else:
            normalizers.append(dict(n))
    pre = None
    if tok.metaspace:
        meta = tok.metaspace
        pre = {"type": "Metaspace", "replacement": meta["replacement"], "prepend_scheme": meta["prepend_scheme"],
               "split": meta["split"]}
        if meta.get("whitespace_split"):
            pre = {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, pre]}
    byte_steps = [{"type": "ByteFallback"}] if tok.byte_decoder else []
    if tok.strip_decoded == "first_token":
        replacement = tok.metaspace["replacement"] if tok.metaspace else SPACE
        decoders = [*byte_steps, {"type": "Metaspace", "replacement": replacement, "prepend_scheme": "always",
                                  "split": True}]
    else:
        decoders = [{"type": "Replace", "pattern": {"String": SPACE}, "content": " "}, *byte_steps, {"type": "Fuse"}]
        if tok.strip_decoded == "fused":
            decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for t, i in tok.special_tokens.items()]
    added += [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": norm,
               "special": False} for t, (i, norm) in tok.added_tokens.items()]
    added.sort(key=lambda a: a["id"])
    if isinstance(tok, MetaspaceUnigram):
        order = sorted(tok.token_to_id.items(), key=lambda kv: kv[1])
        if [i for _, i in order] != list(range(len(order))):
            raise FormatError("HF Unigram needs piece ids 0..n-1 without gaps")
        model = {"type": "Unigram", "unk_id": tok.unk_id, "byte_fallback": tok.byte_fallback,
                 "vocab": [[t, tok.scores.get(t, 0.0)] for t, _ in order]}
    else:
        model = {"type": "BPE", "dropout": None, "unk_token": tok.unk_token, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": tok.fuse_unk, "byte_fallback": tok.byte_fallback,
                 "ignore_merges": tok.ignore_merges, "vocab": dict(tok.token_to_id),
                 "merges": [[a, b] for a, b in tok.merge_list]}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": {"type": "Sequence", "normalizers": normalizers} if normalizers else None,
            "pre_tokenizer": pre, "post_processor": None, "decoder": {"type": "Sequence", "decoders": decoders},
            "model": model}
