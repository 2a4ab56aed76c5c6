"""The C kernel behind a tokenizer.json pipeline whose pre-tokenizer one of its state machines reproduces.

`PipelineTokenizer` runs any HF pipeline component by component in Python; for the byte-level BPE files real
models ship with a known pre-tokenizer (DeepSeek V3/V4: three isolated Splits then ByteLevel without its regex)
the ids come from the kernel instead: same vocabulary and merges, the state machine for the Splits, and the
Unicode classes of HF's regex engine (`unicode_table.hf_class_table`). Text holding an added token, and every
other pipeline, stays on the component path.
"""

from __future__ import annotations

from .patterns import DEEPSEEK, DEEPSEEK_PATTERN

# DeepSeek V3/V4's tokenizer.json pre-tokenizer: these Splits (isolated), then ByteLevel(use_regex=False)
DEEPSEEK_SPLITS = (
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"""
    r"""| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
)


def _is_deepseek_pre_tokenizer(pre) -> bool:
    from ..pipeline import pre_tokenizers as pt

    if not isinstance(pre, pt.Sequence) or len(pre.pretokenizers) != len(DEEPSEEK_SPLITS) + 1:
        return False
    *splits, byte_level = pre.pretokenizers
    for split, want in zip(splits, DEEPSEEK_SPLITS):
        if not isinstance(split, pt.Split) or list(split.pattern) != ["Regex"] or split.behavior != "isolated" \
                or split.invert:
            return False
        # the file spells CR and LF as the characters (JSON "\r"), a regex may spell them as escapes
        if split.pattern["Regex"].replace("\r", r"\r").replace("\n", r"\n") != want:
            return False
    return isinstance(byte_level, pt.ByteLevel) and not byte_level.add_prefix_space and not byte_level.use_regex


def _no_op_normalizer(norm) -> bool:
    from ..pipeline import normalizers as nm

    return norm is None or (isinstance(norm, nm.Sequence) and all(_no_op_normalizer(n) for n in norm.normalizers))


def compiled_encoder(ptok):
    """A `NativeBPE` giving ``ptok``'s ids for text without added tokens, or None (kernel missing, or a pipeline
    no state machine reproduces)."""
    from ..kernels import bpe as kernel

    if kernel is None:
        return None
    from ..pipeline.models import BPE

    model = ptok.model
    if not (isinstance(model, BPE) and model.dropout is None and not model.byte_fallback
            and not model.continuing_subword_prefix and not model.end_of_word_suffix
            and _no_op_normalizer(ptok.normalizer) and _is_deepseek_pre_tokenizer(ptok.pre_tokenizer)
            and "ByteLevel" in ptok._decoder_kinds):
        return None
    from ..errors import FormatError
    from ..pretokenize import PreTokenizer
    from ..tokenizer import Tokenizer
    from .native import NativeBPE
    from .unicode_table import hf_class_table

    token_bytes = ptok._token_bytes_of
    try:
        vocab = {token_bytes(t): i for t, i in model.get_vocab().items()}
        merges = [(token_bytes(a), token_bytes(b)) for a, b in model.merges]
        tok = Tokenizer(vocab=vocab, merges=merges, pretokenizer=PreTokenizer(DEEPSEEK_PATTERN),
                        ignore_merges=model.ignore_merges)
        return NativeBPE(tok, DEEPSEEK, classes=hf_class_table())
    except (FormatError, ValueError):
        return None


def encode_ids(ptok, fast, text: str, enabled) -> list[int] | None:
    """``ptok``'s ids of ``text`` from the kernel, or None when the text holds an added token it would match."""
    for normalized in (False, True):
        rx, _ = ptok.added._matcher(normalized, enabled)
        if rx is not None and rx.search(text) is not None:
            return None
    return fast.encode_bytes(text, as_list=True)
