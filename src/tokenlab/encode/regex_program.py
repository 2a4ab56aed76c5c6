"""Compile a pre-tokenizer regex from the common subset into the C kernel's regex program (no regex engine).

Tokenizer patterns are alternations of character-class runs: ``\\p{Lu}?\\p{Ll}+| ?\\p{N}{1,4}|\\s+(?!\\S)|...``.
This compiler accepts exactly that subset — classes (``\\p{..}`` of the pinned table, ``\\s\\d\\w``, ``.``, ``[...]``,
literals) with ``? * + {m,n}`` (greedy or possessive), one-class lookaheads, ``$``, groups that it can distribute
into top-level alternatives without changing the leftmost-first order (``'(?i:s|t|re)``), and an optional group
ending an alternative (o200k's ``...(?i:'s|'t|...)?``) — and refuses anything else
(None: the ``regex`` module splits instead). Classes are tiktoken's, probed into ``data/regex_properties.json``; each
code point gets a per-pattern class id, and each class is a 256-bit set of ids. The kernel's matcher backtracks like
fancy-regex and gives up on a step budget (the caller then uses the ``regex`` module with its time limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

N_CP = 0x110000
UNBOUNDED = 0x7FFFFFFF
POSSESSIVE, LOOK_NEG, LOOK_POS, END, OPTIONAL = 1, 2, 4, 8, 16
_PROPERTIES = {"L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "S", "Z", "C",
               "Han", "Hiragana", "Katakana", "Latin"}
_LITERAL_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "f": "\f", "v": "\v", "a": "\a", "e": "\x1b"}
_FOLD_EXTRA = {"s": "\u017f", "k": "\u212a"}  # simple case folding beyond ASCII for ASCII letters


class Unsupported(Exception):
    """The pattern is outside the compiled subset."""


@dataclass(frozen=True)
class Program:
    cid: np.ndarray  # uint8 class id per code point
    masks: np.ndarray  # uint64, 4 per class
    prog: np.ndarray  # int32: n_alts, n_all, (first item, n_items) per alternative (the top-level ones, then the
    # optional groups'), items (cls, min, max, flags)


@lru_cache(maxsize=16)  # a program holds a 1.1 MB class-id table
def compile_program(pattern: str) -> Program | None:
    """The kernel program for ``pattern``, or None when it is outside the subset."""
    try:
        alts = _expand(_Parser(pattern).parse())
        return _assemble(alts)
    except Unsupported:
        return None


# ---------------------------------------------------------------- parsing
# a class is a frozenset of ("prop", name, negated) / ("range", lo, hi) atoms plus a negation flag
# items: ("run", cls, min, max, possessive) | ("look", cls, negative) | ("end",); groups: ("group", [alts])


class _Parser:
    def __init__(self, pattern: str):
        self.s, self.i = pattern, 0

    def parse(self) -> list:
        alts = self._alternation(ci=False)
        if self.i != len(self.s):
            raise Unsupported("unbalanced )")
        return alts

    def _peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def _alternation(self, ci: bool) -> list:
        alts = [self._sequence(ci)]
        while self._peek() == "|":
            self.i += 1
            alts.append(self._sequence(ci))
        return alts

    def _sequence(self, ci: bool) -> list:
        terms: list = []
        while self.i < len(self.s) and self._peek() not in "|)":
            terms.append(self._term(ci))
        return terms

    def _term(self, ci: bool):
        c = self._peek()
        if c == "(":
            return self._group(ci)
        if c == "$":
            self.i += 1
            return ("end",)
        if c in "^*+?{":
            raise Unsupported(c)
        cls = self._atom(ci)
        lo, hi, possessive = self._quantifier()
        return ("run", cls, lo, hi, possessive)

    def _group(self, ci: bool):
        s = self.s
        if s.startswith("(?:", self.i):
            self.i += 3
            inner_ci = ci
        elif s.startswith("(?i:", self.i):
            self.i += 4
            inner_ci = True
        elif s.startswith("(?!", self.i) or s.startswith("(?=", self.i):
            negative = s[self.i + 2] == "!"
            self.i += 3
            cls = self._atom(ci)
            if self._peek() != ")":
                raise Unsupported("lookahead of more than one class")
            self.i += 1
            if self._peek() in ("?", "*", "+", "{"):
                raise Unsupported("quantified lookahead")
            return ("look", cls, negative)
        elif s.startswith("(?", self.i):
            raise Unsupported("group kind")
        else:
            self.i += 1  # a capturing group splits as a non-capturing one (the whole match is the piece)
            inner_ci = ci
        alts = self._alternation(inner_ci)
        if self._peek() != ")":
            raise Unsupported("unclosed group")
        self.i += 1
        if self._peek() == "?" and self._peek(1) != "?":  # (...)? : kept only where it ends an alternative
            self.i += 2 if self._peek(1) == "+" else 1  # possessive or not: nothing after it to backtrack for
            return ("optgroup", alts)
        if self._peek() in ("?", "*", "+", "{"):
            raise Unsupported("quantified group")
        return ("group", alts)

    def _quantifier(self) -> tuple[int, int, bool]:
        c = self._peek()
        if c == "?":
            lo, hi = 0, 1
            self.i += 1
        elif c == "*":
            lo, hi = 0, UNBOUNDED
            self.i += 1
        elif c == "+":
            lo, hi = 1, UNBOUNDED
            self.i += 1
        elif c == "{":
            j = self.s.find("}", self.i)
            body = self.s[self.i + 1:j] if j > 0 else ""
            parts = body.split(",")
            if j < 0 or len(parts) > 2 or not parts[0].isdigit() or (len(parts) == 2 and parts[1]
                                                                      and not parts[1].isdigit()):
                raise Unsupported("quantifier")
            lo = int(parts[0])
            hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else UNBOUNDED)
            if hi < lo or hi > 100_000:
                raise Unsupported("quantifier bounds")
            self.i = j + 1
        else:
            return 1, 1, False
        if self._peek() == "?":
            raise Unsupported("lazy quantifier")
        if self._peek() == "+":
            self.i += 1
            return lo, hi, True
        return lo, hi, False

    def _atom(self, ci: bool):
        c = self._peek()
        if not c:
            raise Unsupported("end of pattern")
        if c == "[":
            return self._class(ci)
        if c == ".":
            self.i += 1
            return (frozenset({("range", 10, 10)}), True)
        if c == "\\":
            return self._escape(ci, in_class=False)
        if c in ")|":
            raise Unsupported(c)
        self.i += 1
        return (_literal(c, ci), False)

    def _escape(self, ci: bool, in_class: bool):
        """An escape at self.i: a class (atoms, negated) — a literal is a one-range class."""
        s = self.s
        e = self._peek(1)
        if not e:
            raise Unsupported("trailing backslash")
        if e in "pP":
            if self._peek(2) == "{":
                j = s.find("}", self.i)
                if j < 0:
                    raise Unsupported("property")
                name = s[self.i + 3:j].strip()
                self.i = j + 1
            else:
                name = self._peek(2)
                self.i += 3
            negated = e == "P"
            if name.startswith("^"):
                name, negated = name[1:].strip(), not negated
            if name not in _PROPERTIES:
                raise Unsupported(f"property {name}")
            if ci:
                raise Unsupported("property under (?i)")
            return (frozenset({("prop", name, negated)}), False)
        if e in "sSdDwW":
            self.i += 2
            return (frozenset({("prop", e.lower(), e.isupper())}), False)
        if e == "x":
            if self._peek(2) == "{":
                j = s.find("}", self.i)
                code = s[self.i + 3:j] if j > 0 else ""
                self.i = j + 1
            else:
                code = s[self.i + 2:self.i + 4]
                self.i += 4
            return (_literal(_hex_char(code), ci), False)
        if e == "u":
            code = s[self.i + 2:self.i + 6]
            self.i += 6
            return (_literal(_hex_char(code), ci), False)
        if e in _LITERAL_ESCAPES:
            self.i += 2
            return (_literal(_LITERAL_ESCAPES[e], ci), False)
        if e.isalnum():
            raise Unsupported(f"escape \\{e}")  # \b \A \z \1 ...
        self.i += 2
        return (_literal(e, ci), False)

    def _class(self, ci: bool):
        self.i += 1
        negated = self._peek() == "^"
        if negated:
            self.i += 1
            if ci:
                raise Unsupported("negated class under (?i)")
        atoms: set = set()
        first = True
        while True:
            c = self._peek()
            if not c:
                raise Unsupported("unclosed class")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" or self.s.startswith(("&&", "--", "~~"), self.i):
                raise Unsupported("nested class or set operation")
            lo_atoms = self._class_member(ci)
            if self._peek() == "-" and self._peek(1) not in ("]", ""):
                self.i += 1
                hi_atoms = self._class_member(ci=False)
                lo_c, hi_c = _single(lo_atoms), _single(hi_atoms)
                if ci and not (hi_c < 128):
                    raise Unsupported("non-ASCII range under (?i)")
                for cp in range(lo_c, hi_c + 1) if ci else ():
                    atoms |= _literal(chr(cp), True)
                if not ci:
                    if hi_c < lo_c:
                        raise Unsupported("reversed range")
                    atoms.add(("range", lo_c, hi_c))
                continue
            atoms |= lo_atoms
        return (frozenset(atoms), negated)

    def _class_member(self, ci: bool) -> frozenset:
        c = self._peek()
        if c == "\\":
            atoms, negated = self._escape(ci, in_class=True)
            if negated:
                raise Unsupported("negated escape in class")  # \P{..} is a (prop, negated) atom instead
            return atoms
        self.i += 1
        return _literal(c, ci)


def _hex_char(code: str) -> str:
    try:
        return chr(int(code, 16))
    except ValueError:
        raise Unsupported("hex escape") from None


def _single(atoms: frozenset) -> int:
    if len(atoms) != 1:
        raise Unsupported("range end")
    kind, *rest = next(iter(atoms))
    if kind != "range" or rest[0] != rest[1]:
        raise Unsupported("range end")
    return rest[0]


def _literal(ch: str, ci: bool) -> frozenset:
    if ci and ch.lower() != ch.upper():
        if not ch.isascii():
            raise Unsupported("non-ASCII cased literal under (?i)")
        low = ch.lower()
        chars = {low, low.upper()} | ({_FOLD_EXTRA[low]} if low in _FOLD_EXTRA else set())
        return frozenset(("range", ord(x), ord(x)) for x in chars)
    return frozenset({("range", ord(ch), ord(ch))})


# ---------------------------------------------------------------- groups into alternatives
def _expand(alts: list) -> list[list]:
    """Top-level alternatives of items: a group is distributed when everything before it in its sequence matches
    a fixed text (no choice to backtrack into), which keeps the leftmost-first order of attempts."""
    out: list[list] = []
    for terms in alts:
        seqs: list[list] = [[]]
        for k, term in enumerate(terms):
            if term[0] == "optgroup":
                # X(?:G1|G2)? ending an alternative: X's first match, then the first Gi matching there (nothing
                # after the group can fail, so nothing backtracks into X)
                if k != len(terms) - 1:
                    raise Unsupported("optional group before the end of an alternative")
                inner = _expand(term[1])
                if any(t[0] == "opt" for alt in inner for t in alt):
                    raise Unsupported("nested optional group")
                for seq in seqs:
                    seq.append(("opt", inner))
                continue
            if term[0] != "group":
                for seq in seqs:
                    seq.append(term)
                continue
            if any(not (t[0] == "run" and t[2] == t[3]) for seq in seqs for t in seq):
                raise Unsupported("group after a choice")
            inner = _expand(term[1])
            seqs = [seq + alt for seq in seqs for alt in inner]
        out.extend(seqs)
    return out


# ---------------------------------------------------------------- tables
@lru_cache(maxsize=1)
def _property_ranges() -> dict:
    from .unicode_table import _probed

    return _probed()


@lru_cache(maxsize=256)
def _membership(atom: tuple) -> np.ndarray:
    member = np.zeros(N_CP, dtype=bool)
    if atom[0] == "range":
        member[atom[1]:atom[2] + 1] = True
        return member
    _, name, negated = atom
    for lo, hi in _property_ranges()[name]:
        member[lo:hi + 1] = True
    if negated:
        member = ~member
        member[0xD800:0xE000] = False
    return member


def _class_array(cls) -> np.ndarray:
    atoms, negated = cls
    member = np.zeros(N_CP, dtype=bool)
    for atom in sorted(atoms, key=repr):
        member |= _membership(atom)
    if negated:
        member = ~member
    member[0xD800:0xE000] = False
    return member


def _assemble(alts: list[list]) -> Program:
    if not alts:
        raise Unsupported("empty pattern")
    classes: dict[bytes, int] = {}
    by_spelling: dict[tuple, int] = {}
    arrays: list[np.ndarray] = []
    items: list[tuple[int, int, int, int]] = []
    heads: list[tuple[int, int]] = []
    for alt in alts:
        if not alt or sum(t[2] for t in alt if t[0] == "run") == 0:
            raise Unsupported("an alternative that can match the empty string")
    pending = list(alts)  # top-level alternatives, then optional groups' ones as they are met
    n_top = len(alts)
    while len(heads) < len(pending):
        alt = pending[len(heads)]
        if not alt:
            raise Unsupported("empty alternative in an optional group")
        first = len(items)
        for t in alt:
            if t[0] == "end":
                items.append((0, 0, 0, END))
                continue
            if t[0] == "opt":
                items.append((0, len(pending), len(t[1]), OPTIONAL))
                pending.extend(t[1])
                continue
            k = by_spelling.get(t[1])
            if k is None:
                arr = _class_array(t[1])
                key = np.packbits(arr).tobytes()
                k = classes.get(key)
                if k is None:
                    k = classes[key] = len(arrays)
                    arrays.append(arr)
                by_spelling[t[1]] = k
            if t[0] == "look":
                items.append((k, 0, 0, LOOK_NEG if t[2] else LOOK_POS))
            else:
                items.append((k, t[2], t[3], POSSESSIVE if t[4] else 0))
        heads.append((first, len(alt)))
    if not arrays:
        arrays.append(np.zeros(N_CP, dtype=bool))
    if len(arrays) > 64:
        raise Unsupported("more than 64 classes")
    wide = np.uint64 if len(arrays) > 32 else np.uint32
    signature = np.zeros(N_CP, dtype=wide)
    for k, arr in enumerate(arrays):
        signature |= arr.astype(wide) << wide(k)
    # the signature is constant over long runs of code points: number the runs' distinct values, not 1.1 M entries
    starts = np.concatenate(([0], np.flatnonzero(signature[1:] != signature[:-1]) + 1))
    sigs, run_id = np.unique(signature[starts], return_inverse=True)
    if len(sigs) > 256:
        raise Unsupported("more than 256 class combinations")
    cid = np.repeat(run_id.astype(np.uint8), np.diff(np.append(starts, N_CP)))
    masks = np.zeros((len(arrays), 4), dtype=np.uint64)
    for ident, sig in enumerate(sigs.tolist()):
        for k in range(len(arrays)):
            if sig >> k & 1:
                masks[k, ident >> 6] |= np.uint64(1 << (ident & 63))
    prog = [n_top, len(heads)] + [x for h in heads for x in h] + [x for it in items for x in it]
    return Program(cid=cid, masks=masks.reshape(-1), prog=np.asarray(prog, dtype=np.int32))
