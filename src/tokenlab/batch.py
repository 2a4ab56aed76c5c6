"""Batch encoding for model input: special-token templates, truncation (with stride and overflowing windows),
padding and attention masks, as lists, numpy or torch arrays, for every tokenizer kind.

`batch_encode(tok, texts, text_pair=None, padding=..., truncation=..., max_length=...)` follows
``transformers``' ``PreTrainedTokenizerFast(...)(texts, ...)`` on the tokenizer's HF form: the same strategies,
the same overflow windows and their order, the same padding of overflows (tested against it for BERT, a
Llama-style SentencePiece model and cl100k). The special tokens come from the tokenizer's post-processor
(BERT's ``[CLS] $A [SEP]``; none for a plain byte-level BPE) or from ``template(...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidInputError
from .pipeline.encoding import Encoding
from .pipeline.processors import PostProcessor, TemplateProcessing, post_processor_from_dict

_FIELDS = ("ids", "type_ids", "special", "offsets")
_A, _B = -1, -2  # marker ids: where the template puts the first and second sequence


@dataclass
class _Seg:
    """Token rows of one piece of an encoding, plus its overflowing windows (HF's ``Encoding.overflowing``)."""

    ids: list[int] = field(default_factory=list)
    type_ids: list[int] = field(default_factory=list)
    special: list[int] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)
    overflowing: list[_Seg] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def __add__(self, other: _Seg) -> _Seg:
        return _Seg(*(getattr(self, f) + getattr(other, f) for f in _FIELDS))

    def window(self, start: int, stop: int) -> _Seg:
        return _Seg(*(getattr(self, f)[start:stop] for f in _FIELDS))


# ---------------------------------------------------------------------- templates
def template(single: str, pair: str | None = None,
             special_tokens: dict[str, int] | Sequence = ()) -> TemplateProcessing:
    """HF's TemplateProcessing from its string syntax: ``template("<s> $A </s>", "<s> $A </s> $B:1 </s>:1",
    {"<s>": 1, "</s>": 2})``; ``$A`` / ``$B`` (or ``$0`` / ``$1``) are the sequences, ``:N`` a type id."""
    specials = dict(special_tokens)

    def parse(spec: str) -> list[dict]:
        out = []
        for piece in spec.split():
            name, _, type_id = piece.rpartition(":") if ":" in piece[1:] else (piece, "", "0")
            if not type_id.isdigit():
                name, type_id = piece, "0"
            if name.startswith("$"):
                seq = {"": "A", "A": "A", "0": "A", "B": "B", "1": "B"}.get(name[1:])
                if seq is None:
                    raise InvalidInputError(f"template piece {piece!r}: a sequence is $A or $B")
                out.append({"Sequence": {"id": seq, "type_id": int(type_id)}})
            else:
                if name not in specials:
                    raise InvalidInputError(f"template piece {name!r} is not in special_tokens")
                out.append({"SpecialToken": {"id": name, "type_id": int(type_id)}})
        return out

    single_t = parse(single)
    pair_t = parse(pair) if pair is not None else single_t + [{"Sequence": {"id": "B", "type_id": 1}}]
    return TemplateProcessing(single_t, pair_t, {k: {"id": k, "ids": [int(v)], "tokens": [k]}
                                                 for k, v in specials.items()})


def _post_processor_of(tok) -> PostProcessor | None:
    from .pipeline import PipelineTokenizer
    from .tokenizer import Tokenizer

    if isinstance(tok, PipelineTokenizer):
        return tok.post_processor
    source = tok.__dict__.get("_hf_source") if hasattr(tok, "__dict__") else None
    if source is not None:
        return post_processor_from_dict(source.get("post_processor"))
    if isinstance(tok, Tokenizer):  # the file's post-processor, if read from one (our export has none)
        from .offsets import byte_level_post_processor

        return byte_level_post_processor(tok)
    from .offsets import offsets_pipeline

    return offsets_pipeline(tok).post_processor


def _layout(processor: PostProcessor | None, is_pair: bool, add_special_tokens: bool) -> list:
    """The post-processor's output for one-token stand-ins of the sequences: ``("A"|"B", type_id)`` where a
    sequence goes, ``(ids, type_ids)`` runs of special tokens."""
    from .pipeline.processors import default_process

    markers = [Encoding(), Encoding()]
    markers[0].append(_A, "", (0, 0), type_id=0, sequence_id=0)
    markers[1].append(_B, "", (0, 0), type_id=1, sequence_id=1)
    encs = markers[:2 if is_pair else 1]
    out = processor.process(encs, add_special_tokens) if processor is not None else default_process(encs)
    layout: list = []
    for tid, type_id in zip(out.ids, out.type_ids):
        if tid in (_A, _B):
            layout.append(("A" if tid == _A else "B", type_id))
        elif layout and isinstance(layout[-1][0], list):
            layout[-1][0].append(tid)
            layout[-1][1].append(type_id)
        else:
            layout.append(([tid], [type_id]))
    return layout


# ---------------------------------------------------------------------- truncation (HF's rules)
def _truncate_seg(seg: _Seg, max_len: int, stride: int, side: str) -> None:
    n = len(seg)
    if max_len >= n:
        return
    if max_len == 0:
        whole = seg.window(0, n)
        for f in _FIELDS:
            setattr(seg, f, [])
        seg.overflowing = [whole]
        return
    if stride >= max_len:
        raise InvalidInputError(f"stride ({stride}) must be less than the length left for the sequence "
                                f"({max_len}, max_length minus the special tokens)")
    step = max_len - stride
    ranges = []
    if side == "right":
        for start in range(0, n, step):
            stop = min(start + max_len, n)
            ranges.append((start, stop))
            if stop == n:
                break
    else:
        for last in range(n - 1, -1, -step):
            stop = last + 1
            start = max(stop - max_len, 0)
            ranges.append((start, stop))
            if start == 0:
                break
    windows = [seg.window(a, b) for a, b in ranges]
    for f in _FIELDS:
        setattr(seg, f, getattr(windows[0], f))
    seg.overflowing = windows[1:]


def _truncate(a: _Seg, b: _Seg | None, max_length: int, stride: int, strategy: str, side: str) -> None:
    if max_length == 0:
        for s in (a, b):
            if s is not None:
                _truncate_seg(s, 0, stride, side)
        return
    total = len(a) + (len(b) if b is not None else 0)
    if total <= max_length:
        return
    to_remove = total - max_length
    if strategy == "longest_first":
        if b is None:
            _truncate_seg(a, total - to_remove, stride, side)
            return
        n1, n2 = len(a), len(b)
        swap = n1 > n2
        if swap:
            n1, n2 = n2, n1
        n2 = n1 if n1 > max_length else max(n1, max_length - n1)
        if n1 + n2 > max_length:
            n1 = max_length // 2
            n2 = n1 + max_length % 2
        if swap:
            n1, n2 = n2, n1
        _truncate_seg(a, n1, stride, side)
        _truncate_seg(b, n2, stride, side)
        return
    if strategy == "only_second" and b is None:
        raise InvalidInputError("truncation='only_second' needs text pairs")
    target = a if strategy == "only_first" else b
    if len(target) <= to_remove:
        raise InvalidInputError(f"cannot truncate to max_length={max_length} with {strategy!r}: the sequence to cut "
                                f"has {len(target)} tokens, {to_remove} must go")
    _truncate_seg(target, len(target) - to_remove, stride, side)


def _merge(parts: list[_Seg]) -> _Seg:
    """HF's ``Encoding.merge``: the main rows concatenated; every overflowing window of a part combined with the
    others' main rows and windows, in HF's order."""
    out = parts[0]
    out = _Seg(out.ids, out.type_ids, out.special, out.offsets, list(out.overflowing))
    for p in parts[1:]:
        overflowing = []
        for so in out.overflowing:
            overflowing.append(so + p)
            overflowing.extend(so + po for po in p.overflowing)
        overflowing.extend(out + po for po in p.overflowing)
        merged = out + p
        merged.overflowing = overflowing
        out = merged
    return out


# ---------------------------------------------------------------------- the API
_PADDING = {True: "longest", "longest": "longest", "max_length": "max_length", False: None, None: None,
            "do_not_pad": None}
_TRUNCATION = {True: "longest_first", "longest_first": "longest_first", "only_first": "only_first",
               "only_second": "only_second", False: None, None: None, "do_not_truncate": None}


class BatchEncoding(dict):
    """``input_ids``, ``attention_mask``, ``token_type_ids`` (and asked-for extras) as lists or arrays; keys are
    also attributes, as in transformers."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _all_ids(tok, texts: list[str]) -> list[list[int]]:
    """Ids of every text (HF matches every added token in the text): the compiled batch encode where there is one."""
    for t in texts:
        if not isinstance(t, str):
            raise InvalidInputError(f"text must be str, got {type(t).__name__}")
    out = tok.encode_batch(texts, allowed_special="all") if hasattr(tok, "encode_batch") else \
        [tok.encode(t, allowed_special="all") for t in texts]
    return [ids.tolist() if isinstance(ids, np.ndarray) else list(ids) for ids in out]


def _raw_sequence(tok, text: str, type_id: int, with_offsets: bool, ids: list[int] | None = None) -> _Seg:
    from .tokenizer import Tokenizer

    if not isinstance(text, str):
        raise InvalidInputError(f"text must be str, got {type(text).__name__}")
    if ids is not None:
        return _Seg(ids, [type_id] * len(ids), [0] * len(ids), [(0, 0)] * len(ids))
    if with_offsets:
        if isinstance(tok, Tokenizer):
            from .offsets import _byte_level_sequence

            enc = _byte_level_sequence(tok, text, type_id)
        else:
            from .offsets import offsets_pipeline
            from .pipeline import PipelineTokenizer

            pipe = tok if isinstance(tok, PipelineTokenizer) else offsets_pipeline(tok)
            enc = pipe._encode_sequence(text, None, type_id)
        return _Seg(list(enc.ids), [type_id] * len(enc), [0] * len(enc), list(enc.offsets))
    ids = tok.encode(text, allowed_special="all")  # HF matches every added token in the text
    ids = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    return _Seg(ids, [type_id] * len(ids), [0] * len(ids), [(0, 0)] * len(ids))


def batch_encode(tok, texts: str | Sequence[str], text_pair: str | Sequence[str] | None = None, *,
                 add_special_tokens: bool = True, padding: bool | str = False, truncation: bool | str = False,
                 max_length: int | None = None, stride: int = 0, pad_to_multiple_of: int | None = None,
                 padding_side: str = "right", truncation_side: str = "right",
                 return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                 return_offsets_mapping: bool = False, return_tensors: str | None = None,
                 pad_token_id: int | None = None, pad_token_type_id: int = 0,
                 post_processor: PostProcessor | dict | None = None) -> BatchEncoding:
    """Encode texts (or text pairs) for a model, as ``transformers``' tokenizer call does.

    ``padding``: False, True / "longest" (to the longest in the batch), "max_length"; ``pad_to_multiple_of``
    rounds up. ``truncation``: False, True / "longest_first", "only_first", "only_second", to ``max_length``
    including the special tokens; ``stride`` > 0 makes consecutive windows overlap, and
    ``return_overflowing_tokens`` returns every window (``overflow_to_sample_mapping`` says whose). Special tokens
    come from the tokenizer's post-processor or ``post_processor`` (see `template`). ``pad_token_id`` defaults to
    the tokenizer's ``[PAD]`` / ``<pad>`` token. ``return_tensors``: None (lists), "np", or "pt" (torch)."""
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    pairs = None
    if text_pair is not None:
        pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
        if len(pairs) != len(texts):
            raise InvalidInputError(f"{len(texts)} texts but {len(pairs)} text pairs")
    if padding not in _PADDING or truncation not in _TRUNCATION:
        bad = padding if padding not in _PADDING else truncation
        raise InvalidInputError(f"unknown padding/truncation strategy {bad!r}")
    pad_strategy, trunc_strategy = _PADDING[padding], _TRUNCATION[truncation]
    if padding_side not in ("right", "left") or truncation_side not in ("right", "left"):
        raise InvalidInputError("padding_side and truncation_side are 'right' or 'left'")
    if (trunc_strategy or pad_strategy == "max_length") and max_length is None:
        raise InvalidInputError("truncation and padding='max_length' need max_length")
    if max_length is not None and max_length < 0 or stride < 0:
        raise InvalidInputError("max_length and stride must not be negative")
    if return_tensors not in (None, "np", "pt"):
        raise InvalidInputError(f"return_tensors is None, 'np' or 'pt', not {return_tensors!r}")
    if isinstance(post_processor, dict):
        post_processor = post_processor_from_dict(post_processor)
    processor = post_processor if post_processor is not None else _post_processor_of(tok)
    if pad_strategy is not None and pad_token_id is None:
        pad_token_id = _pad_id(tok)

    layouts = {}
    rows: list[_Seg] = []
    sample_of: list[int] = []
    mains: list[_Seg] = []
    ids_a = ids_b = None
    if not return_offsets_mapping:
        ids_a = _all_ids(tok, texts)
        ids_b = _all_ids(tok, pairs) if pairs is not None else None
    for k, text in enumerate(texts):
        a = _raw_sequence(tok, text, 0, return_offsets_mapping, ids_a[k] if ids_a else None)
        b = _raw_sequence(tok, pairs[k], 1, return_offsets_mapping, ids_b[k] if ids_b else None) \
            if pairs is not None else None
        is_pair = b is not None
        if is_pair not in layouts:
            layouts[is_pair] = _layout(processor, is_pair, add_special_tokens)
        layout = layouts[is_pair]
        if trunc_strategy:
            n_added = sum(len(p[0]) for p in layout if isinstance(p[0], list))
            _truncate(a, b, max(max_length - n_added, 0), stride, trunc_strategy, truncation_side)
        merged = _merge([_piece(p, a, b, processor) for p in layout])
        mains.append(merged)
        for seg in [merged, *merged.overflowing] if return_overflowing_tokens else [merged]:
            rows.append(seg)
            sample_of.append(k)
    if pad_strategy is not None:
        # as HF: every row (windows too) to max_length or to the longest main encoding (windows do not count),
        # rounded up to the multiple; a longer row stays as it is
        longest = max([len(m) for m in mains] or [0])
        length = _round_up(max_length if pad_strategy == "max_length" else longest, pad_to_multiple_of)
        for r in rows:
            _pad(r, length, pad_token_id, pad_token_type_id, padding_side)
    out = BatchEncoding(input_ids=[r.ids for r in rows], token_type_ids=[r.type_ids for r in rows],
                        attention_mask=[getattr(r, 'attention', [1] * len(r)) for r in rows])
    if return_special_tokens_mask:
        out["special_tokens_mask"] = [r.special for r in rows]
    if return_offsets_mapping:
        out["offset_mapping"] = [r.offsets for r in rows]
    if return_overflowing_tokens:
        out["overflow_to_sample_mapping"] = sample_of
    if single and not return_overflowing_tokens:
        out = BatchEncoding({k: v[0] for k, v in out.items()})
    if return_tensors is not None:
        out = BatchEncoding({k: _tensor(k, v, return_tensors) for k, v in out.items()})
    return out


def _piece(p, a: _Seg, b: _Seg | None, processor) -> _Seg:
    name, type_id = p
    if isinstance(name, list):
        return _Seg(list(name), list(type_id), [1] * len(name), [(0, 0)] * len(name))
    seq = a if name == "A" else b
    seg = _Seg(list(seq.ids), [type_id] * len(seq), list(seq.special), list(seq.offsets))
    # HF's TemplateProcessing sets the type ids of the main rows only; windows keep the sequence's own
    keep = isinstance(processor, TemplateProcessing)
    seg.overflowing = [_Seg(o.ids, o.type_ids if keep else [type_id] * len(o), o.special, o.offsets)
                       for o in seq.overflowing]
    return seg


def _round_up(length: int, multiple: int | None) -> int:
    if multiple and length % multiple:
        length += multiple - length % multiple
    return length


def _pad(seg: _Seg, length: int, pad_id: int, pad_type_id: int, side: str) -> None:
    if not hasattr(seg, "attention"):
        seg.attention = [1] * len(seg)
    extra = length - len(seg)
    if extra <= 0:
        return
    pads = {"ids": pad_id, "type_ids": pad_type_id, "special": 1, "offsets": (0, 0), "attention": 0}
    for f, v in pads.items():
        cur = getattr(seg, f)
        setattr(seg, f, cur + [v] * extra if side == "right" else [v] * extra + cur)


def _pad_id(tok) -> int:
    find = getattr(tok, "token_to_id", None)
    specials = getattr(tok, "special_tokens", {}) or {}
    for name in ("[PAD]", "<pad>", "<|pad|>", "<PAD>"):
        if name in specials:
            return specials[name]
        if callable(find):
            i = find(name)
            if i is not None:
                return i
    raise InvalidInputError("this tokenizer has no padding token ([PAD], <pad>, <|pad|>); pass pad_token_id")


def _tensor(key: str, value, kind: str):
    if key == "offset_mapping" or not isinstance(value, list) or not value or not isinstance(value[0], list):
        arr = value
    else:
        lengths = {len(v) for v in value}
        if len(lengths) > 1:
            raise InvalidInputError(f"rows of {key} have different lengths {sorted(lengths)[:4]}; "
                                    "pad them (padding=True) to get a tensor")
        arr = value
    if kind == "np":
        return np.asarray(arr, dtype=np.int64)
    import torch  # optional: only when torch tensors are asked for

    return torch.tensor(arr, dtype=torch.long)
