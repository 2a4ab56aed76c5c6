"""Training-data formatters that stay exact at the token level.

**Character-level fill-in-the-middle without sub-tokens** ("Empowering Character-level Text Infilling
by Eliminating Sub-Tokens", FIM-SE). Cutting a document at arbitrary characters leaves a piece of a token
at the end of the prefix and at the start of the suffix: the model trains on token sequences it never
sees elsewhere. Here the cuts move outwards to the nearest boundaries of the document's *own*
tokenization (``granularity="line"``: first to the start of the cursor's line and the end of the middle's
last line, as FIM-SE does), so prefix, middle and suffix ids are slices of ``encode(document)``. The
characters between a moved cut and the requested one (``left`` and ``right``) are given to the model as
explicit start/end constraints, encoded on their own, and the target spells ``left + middle + right``::

    input  = <PRE> prefix <SUF> suffix <START> left <END> right <MID>
    target = ids of left + middle + right                       (+ <EOT> if given)

``prefix ids + target ids (without <EOT>) + suffix ids == encode(document)``, always.

**Token internal structure** ("Token Internal Structure Learning"; spelling/reversal tasks): for each
token, the ids of its characters one by one (``spell``) or in reverse order (``reverse``), each character
encoded on its own, optionally with a separator; decoding gives exactly the token's text (reversed).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ..errors import InvalidInputError

FIM_TOKENS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_start|>", "<|fim_end|>", "<|fim_middle|>")


def _encode(tok, text: str) -> list[int]:
    enc = getattr(tok, "encode_ordinary", None) or tok.encode
    out = enc(text)
    return out.tolist() if hasattr(out, "tolist") else list(out)


def fim_token_ids(tok, names: Iterable[str] = FIM_TOKENS) -> dict[str, int]:
    """Ids of the FIM markers: the tokenizer's own special tokens when it has them, else new ids after
    its vocabulary (in the order given; the model's embedding needs those rows)."""
    specials: Mapping[str, int] = getattr(tok, "special_tokens", {}) or {}
    top = getattr(tok, "n_vocab", None)
    if top is None:
        top = max([*getattr(tok, "vocab", {}).values(), *specials.values(), -1]) + 1
    out, nxt = {}, int(top)
    for name in names:
        if name in specials:
            out[name] = specials[name]
        else:
            out[name] = nxt
            nxt += 1
    return out


@dataclass
class FimExample:
    """One character-level FIM example; strings are for reading, ids for training."""

    input_ids: list[int]
    target_ids: list[int]
    prefix: str
    suffix: str
    left: str  # characters between the prefix cut and the requested start (constraint, start of the target)
    right: str  # characters between the requested end and the suffix cut (constraint, end of the target)
    middle: str  # the requested span
    prefix_ids: list[int] = field(default_factory=list)
    suffix_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"input_ids": self.input_ids, "target_ids": self.target_ids, "prefix": self.prefix,
                "suffix": self.suffix, "left": self.left, "right": self.right, "middle": self.middle}


def _token_cuts(tok, text: str) -> tuple[list[int], list[int]]:
    """The document's ids and the character offsets where a token ends on a character boundary."""
    ids = _encode(tok, text)
    data = text.encode("utf-8")
    token_bytes = getattr(tok, "token_bytes", None)
    if token_bytes is None:
        raise InvalidInputError("FIM needs a tokenizer with token_bytes (its tokens must spell the text)")
    byte_to_char = {0: 0}
    pos = 0
    for k, ch in enumerate(text, start=1):
        pos += len(ch.encode("utf-8"))
        byte_to_char[pos] = k
    cuts, pos = [0], 0
    for i in ids:
        pos += len(token_bytes(i))
        if pos in byte_to_char:
            cuts.append(byte_to_char[pos])
    if pos != len(data):
        raise InvalidInputError("the tokenizer's tokens do not spell the text (e.g. SentencePiece '▁'); "
                                "FIM slices need byte-exact tokens")
    return ids, sorted(set(cuts))


def fim_example(tok, text: str, start: int, end: int, *, granularity: str = "line",
                markers: Mapping[str, int] | None = None, eot_id: int | None = None) -> FimExample:
    """A FIM-SE example whose middle is ``text[start:end]`` (character offsets)."""
    if not 0 <= start <= end <= len(text):
        raise InvalidInputError(f"need 0 <= start <= end <= {len(text)}, got start={start} end={end}")
    if granularity not in ("line", "token"):
        raise InvalidInputError(f"granularity must be 'line' or 'token', got {granularity!r}")
    ids, cuts = _token_cuts(tok, text)
    lo, hi = start, end
    if granularity == "line":
        lo = text.rfind("\n", 0, start) + 1
        nl = text.find("\n", end)
        hi = len(text) if nl < 0 else nl + 1
        if end > 0 and text[end - 1] == "\n":
            hi = end  # the middle already ends a line
    a = cuts[bisect.bisect_right(cuts, lo) - 1]
    b = cuts[bisect.bisect_left(cuts, hi)]
    # token index of each cut: count tokens whose end is <= the cut (cuts are token ends)
    k, m = _token_index(tok, ids, text, a), _token_index(tok, ids, text, b)
    markers = dict(markers or fim_token_ids(tok))
    pre, suf, st, en, mid = (markers[n] for n in FIM_TOKENS)
    left, right = text[a:start], text[end:b]
    prefix_ids, target_ids, suffix_ids = ids[:k], ids[k:m], ids[m:]
    input_ids = [pre, *prefix_ids, suf, *suffix_ids, st, *_encode(tok, left), en, *_encode(tok, right), mid]
    target = list(target_ids) + ([eot_id] if eot_id is not None else [])
    return FimExample(input_ids=input_ids, target_ids=target, prefix=text[:a], suffix=text[b:], left=left,
                      right=right, middle=text[start:end], prefix_ids=prefix_ids, suffix_ids=suffix_ids)


def _token_index(tok, ids: list[int], text: str, char_pos: int) -> int:
    target = len(text[:char_pos].encode("utf-8"))
    pos = 0
    for n, i in enumerate(ids):
        if pos >= target:
            return n
        pos += len(tok.token_bytes(i))
    return len(ids)


def naive_fim_ids(tok, text: str, start: int, end: int) -> tuple[list[int], list[int], list[int]]:
    """Plain character-cut FIM (each part encoded on its own), for comparison: the ids that leave sub-tokens."""
    return _encode(tok, text[:start]), _encode(tok, text[start:end]), _encode(tok, text[end:])


def fim_dataset(tok, docs: Iterable[str], *, rate: float = 1.0, seed: int = 0, granularity: str = "line",
                eot_id: int | None = None, per_doc: int = 1) -> Iterator[FimExample]:
    """FIM-SE examples for a share ``rate`` of ``docs`` (``per_doc`` each), middles at uniformly random
    character spans; the same seed gives the same examples."""
    if not 0.0 <= rate <= 1.0:
        raise InvalidInputError(f"rate must be in [0, 1], got {rate}")
    rng = random.Random(seed)
    markers = fim_token_ids(tok)
    for doc in docs:
        if not doc or rng.random() >= rate:
            continue
        for _ in range(per_doc):
            s, e = sorted((rng.randint(0, len(doc)), rng.randint(0, len(doc))))
            yield fim_example(tok, doc, s, e, granularity=granularity, markers=markers, eot_id=eot_id)


# ---------------------------------------------------------------------------- token internal structure
@dataclass
class SpellingExample:
    token_id: int
    token: str
    answer: str
    answer_ids: list[int]


def spelling_examples(tok, *, task: str = "spell", separator: str = "", ids: Iterable[int] | None = None) -> \
        Iterator[SpellingExample]:
    """For each token (all ordinary tokens, or ``ids``) whose bytes are whole UTF-8 characters: its
    characters (``spell``) or its characters reversed (``reverse``), each character encoded on its own
    and joined with ``separator``'s ids. Tokens of fewer than two characters are skipped."""
    if task not in ("spell", "reverse"):
        raise InvalidInputError(f"task must be 'spell' or 'reverse', got {task!r}")
    vocab = getattr(tok, "vocab", None)
    if ids is None:
        if not isinstance(vocab, Mapping):
            raise InvalidInputError("give ids, or a tokenizer with a vocab")
        ids = sorted(vocab.values())
    sep_ids = _encode(tok, separator) if separator else []
    char_ids: dict[str, list[int]] = {}
    for i in ids:
        try:
            text = tok.token_bytes(i).decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(text) < 2:
            continue
        chars = list(text) if task == "spell" else list(reversed(text))
        out: list[int] = []
        for n, ch in enumerate(chars):
            if n and sep_ids:
                out.extend(sep_ids)
            if ch not in char_ids:
                char_ids[ch] = _encode(tok, ch)
            out.extend(char_ids[ch])
        yield SpellingExample(token_id=i, token=text, answer=separator.join(chars), answer_ids=out)
