"""Which compiled pre-tokenizer state machine reproduces a pre-tokenizer (shared by the C and numba kernels).

Real tokenizers rarely spell their regex exactly as tiktoken does: Llama-3 ships cl100k before its possessive
rewrite, Qwen2/2.5/3 take digits one at a time, Qwen3.5 counts marks as letters, files wrap the pattern in a group
or add possessive quantifiers. :func:`family` normalises a regex (outer group, possessive markers that cannot
change a leftmost-first match here) and recognises the cl100k family with its parameters, so those patterns run on
the C kernel's state machine (exact, and as fast as cl100k) instead of a regex engine.
"""

from __future__ import annotations

from functools import lru_cache

PATTERN_IDS = {None: 0, "none": 0, "gpt2": 1, "cl100k": 2, "o200k": 3, "whitespace": 4, "tekken": 5}

# the C kernel's parameterised cl100k family (P_CL100K_FAMILY and its FAM_* bits in kernels/_bpe.c)
CL100K_FAMILY = 6
FAM_MARKS = 16
FAM_NL_FIRST = 32
FAM_CASED = 64
DEEPSEEK = 7  # P_DEEPSEEK: DeepSeek V3/V4's three isolated Splits (the kernel chunks digits by three itself)

_CJK = "\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff"
_NOT_CJK = f"(?![{_CJK}])"
# DeepSeek V3/V4's pre-tokenizer (a Sequence of isolated Splits: \p{N}{1,3}, CJK runs, then the regex below in
# the segments between them, unmatched text kept) as ONE regex with tiktoken's semantics: pieces stop at digits and
# CJK runs, the lookahead sees a segment's end there, and text no alternative matches is a piece of its own.
DEEPSEEK_PATTERN = "|".join([
    r"\p{N}{1,3}",
    f"[{_CJK}]+",
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+""",
    rf"[^\r\n\p{{L}}\p{{P}}\p{{S}}]?(?:{_NOT_CJK}[\p{{L}}\p{{M}}])+",
    rf" ?(?:{_NOT_CJK}[\p{{P}}\p{{S}}])+[\r\n]*",
    r"\s*[\r\n]+",
    rf"\s+(?![^\s\p{{N}}{_CJK}])",
    r"\s+",
    rf"(?:[^\p{{N}}\p{{L}}\p{{M}}\p{{P}}\p{{S}}\s{_CJK}](?!{_NOT_CJK}[\p{{L}}\p{{M}}]))+",
])


def pattern_id(pretokenizer) -> int | None:
    """The state machine's id for this pre-tokenizer (one both kernels have), or None (the regex path)."""
    from ..pretokenize import PATTERNS

    if pretokenizer.pattern in PATTERN_IDS:
        return PATTERN_IDS[pretokenizer.pattern]
    for name, rx in PATTERNS.items():
        if rx is not None and rx == pretokenizer.pattern:
            return PATTERN_IDS[name]
    return None


def native_pattern_id(pretokenizer) -> int | None:
    """The C kernel's pattern id: a named state machine, or the cl100k family with its parameters; None means
    the pattern needs a regex engine."""
    pid = pattern_id(pretokenizer)
    if pid is not None:
        return pid
    return family(pretokenizer.pattern)


@lru_cache(maxsize=256)
def family(pattern: str | None) -> int | None:
    """The kernel pattern id whose state machine splits exactly as ``pattern`` (tiktoken's semantics), or None."""
    if not pattern:
        return None
    alts = alternatives(canonical(pattern))
    if alts is None:
        return None
    return _templates().get(tuple(alts))


# ---------------------------------------------------------------- normalising a regex's text
def _tokens(pattern: str) -> list[str] | None:
    """The regex as atoms: escapes (``\\p{..}`` whole), character classes whole, single characters."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            if pattern[i + 1] in "pP" and i + 2 < n and pattern[i + 2] == "{":
                j = pattern.find("}", i)
                if j < 0:
                    return None
                out.append(pattern[i:j + 1])
                i = j + 1
            else:
                out.append(pattern[i:i + 2])
                i += 2
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                if pattern[j] == "[":
                    return None  # nested sets (regex V1 syntax): not a family member
                j += 2 if pattern[j] == "\\" else 1
            if j >= n:
                return None
            out.append(pattern[i:j + 1])
            i = j + 1
        elif c == "{":
            j = pattern.find("}", i)
            if j < 0:
                return None
            out.append(pattern[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return out


def canonical(pattern: str) -> str | None:
    """``pattern`` without possessive markers (``?+ ++ *+ }+``) and without one group around the whole of it.

    Dropping possessiveness is exact for the family's alternatives: each is tried leftmost-first and nothing
    after a possessive part can fail in a way that backtracking into it would rescue.
    """
    toks = _tokens(pattern)
    if toks is None:
        return None
    out: list[str] = []
    prev = "other"  # the previous token: an atom, a quantifier, or other (group open, |, possessive marker)
    for k, t in enumerate(toks):
        quantifier = t in ("?", "*", "+") or (len(t) > 2 and t[0] == "{" and t[1:-1].replace(",", "").isdigit())
        if quantifier and prev == "quant" and t == "+":
            following = toks[k + 1] if k + 1 < len(toks) else ""
            at_end = all(x == ")" for x in toks[k + 1:])  # the end of the pattern, maybe closing a wrapper
            if at_end or following in ("|", "$") or (toks[k - 2], following) in _DISJOINT_NEXT:
                prev = "other"  # possessive marker that no later failure could undo: dropped
                continue
            out.append(t)  # kept: the pattern then matches no family template
            prev = "other"
            continue
        out.append(t)
        if quantifier:
            prev = "quant" if prev == "atom" else "other"
        else:
            prev = "other" if t in ("(", "|") else "atom"
    text = "".join(out)
    while text.startswith("(?:") and text.endswith(")") and _closes_at_end(text):
        text = text[3:-1]
    return text


# (quantified atom, the token after it): no character is in both, so backtracking into the atom can never let the
# rest match — possessive or not, the match is the same
_DISJOINT_NEXT = {(r"[^\r\n\p{L}\p{N}]", r"\p{L}"), (" ", r"[^\s\p{L}\p{N}]"), (" ", r"[^\s\p{L}\p{M}\p{N}]"),
                  (r"[^\s\p{L}\p{N}]", r"[\r\n]"), (r"[^\s\p{L}\p{M}\p{N}]", r"[\r\n]")}


def _closes_at_end(text: str) -> bool:
    """Whether the group opened at text[0] closes at the last character."""
    toks = _tokens(text)
    if toks is None:
        return False
    depth = 0
    for k, t in enumerate(toks):
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
            if depth == 0:
                return k == len(toks) - 1
    return False


def alternatives(text: str | None) -> list[str] | None:
    """The top-level alternatives of a regex (None if its groups do not balance)."""
    if text is None:
        return None
    toks = _tokens(text)
    if toks is None:
        return None
    alts, cur, depth = [], [], 0
    for t in toks:
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
            if depth < 0:
                return None
        if t == "|" and depth == 0:
            alts.append("".join(cur))
            cur = []
        else:
            cur.append(t)
    if depth:
        return None
    alts.append("".join(cur))
    return alts


# ---------------------------------------------------------------- the cl100k family's spellings
_CONTRACTIONS = {
    0: [["(?i:'s|'t|'re|'ve|'m|'ll|'d)"], ["'(?i:[sdmt]|ll|ve|re)"]],
    FAM_CASED: [["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"], ["'(?:[sdmt]|ll|ve|re)"]],
}
_LETTERS = {0: r"[^\r\n\p{L}\p{N}]?\p{L}+", FAM_MARKS: r"[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+"}
_PUNCT = {0: r" ?[^\s\p{L}\p{N}]+[\r\n]*", FAM_MARKS: r" ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"}
_TAILS = {
    0: [[r"\s+$", r"\s*[\r\n]", r"\s+(?!\S)", r"\s"], [r"\s+$", r"\s*[\r\n]+", r"\s+(?!\S)", r"\s+"],
        [r"\s+$", r"\s*[\r\n]", r"\s+(?!\S)", r"\s+"], [r"\s+$", r"\s*[\r\n]+", r"\s+(?!\S)", r"\s"]],
    FAM_NL_FIRST: [[r"\s*[\r\n]+", r"\s+(?!\S)", r"\s+"], [r"\s*[\r\n]", r"\s+(?!\S)", r"\s"],
                   [r"\s*[\r\n]+", r"\s+(?!\S)", r"\s"], [r"\s*[\r\n]", r"\s+(?!\S)", r"\s+"]],
}


def _digit_spellings() -> dict[str, int]:
    out = {r"\p{N}+": 0, r"\p{N}": 1}
    for k in range(1, 16):
        out[rf"\p{{N}}{{1,{k}}}"] = k
    return out


@lru_cache(maxsize=1)
def _templates() -> dict[tuple[str, ...], int]:
    """Every recognised spelling (as its list of alternatives) -> kernel pattern id."""
    table: dict[tuple[str, ...], int] = {}
    for cased, contraction_forms in _CONTRACTIONS.items():
        for contractions in contraction_forms:
            for marks in (0, FAM_MARKS):
                for digits_text, limit in _digit_spellings().items():
                    for nl_first, tails in _TAILS.items():
                        for tail in tails:
                            alts = (*contractions, _LETTERS[marks], digits_text, _PUNCT[marks], *tail)
                            params = cased | marks | nl_first | limit
                            table[alts] = CL100K_FAMILY | (params << 8)
    # the named state machines, however their regex is spelled
    from ..pretokenize import PATTERNS

    for name, rx in PATTERNS.items():
        alts = alternatives(canonical(rx)) if rx else None
        if alts is not None:
            table[tuple(alts)] = PATTERN_IDS[name]
    table[tuple(alternatives(canonical(DEEPSEEK_PATTERN)))] = DEEPSEEK
    cl100k = CL100K_FAMILY | (3 << 8)  # cl100k itself: its own (faster, specialised) loop
    for alts, pid in list(table.items()):
        if pid == cl100k:
            table[alts] = PATTERN_IDS["cl100k"]
    return table
