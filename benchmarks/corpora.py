"""The three benchmark corpora, built from what the test extras install (nothing downloaded).

- ``code``: the Python standard library's sources, in name order.
- ``multilingual``: every translated message of Django's gettext catalogues (98 locales, 30+ scripts),
  one document per catalogue, plus Python's own help topics as English prose.
- ``adversarial``: seeded random text from every Unicode plane (unassigned and newly assigned code
  points included), combining marks, emoji ZWJ sequences, 100 KB words without spaces, long digit
  and whitespace runs.
"""

from __future__ import annotations

import glob
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPORA = ("code", "multilingual", "adversarial")


def _take(docs, budget: int) -> list[str]:
    out, size = [], 0
    for d in docs:
        if size >= budget:
            break
        out.append(d)
        size += len(d.encode("utf-8"))
    return out


def code(budget: int) -> list[str]:
    from tokenlab.evaluate.data import stdlib_code

    return stdlib_code(budget)


def multilingual(budget: int) -> list[str]:
    import django

    from tokenlab.evaluate.data import parse_po, python_prose

    root = os.path.dirname(django.__file__)
    paths = sorted(glob.glob(os.path.join(root, "**", "locale", "*", "LC_MESSAGES", "*.po"), recursive=True))
    docs = []
    for p in paths:
        with open(p, encoding="utf-8", errors="replace") as f:
            msgs = parse_po(f.read())
        text = "\n".join(v for v in msgs.values() if v)
        if text:
            docs.append(text)
    prose = python_prose(budget // 5)
    rng = random.Random(0)
    rng.shuffle(docs)  # interleave scripts so every slice is mixed
    return _take(prose + docs, budget) if sum(len(d.encode()) for d in docs) < budget else _take(docs, budget)


def adversarial(budget: int) -> list[str]:
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    from adversarial import adversarial_text, long_runs

    docs = long_runs()
    seed = 0
    while sum(len(d.encode()) for d in docs) < budget:
        # special-token strings ("<|endoftext|>") are split: every library encodes this corpus as ordinary text
        docs.append(adversarial_text(1000 + seed, 20_000).replace("<|", "< |"))
        seed += 1
    return docs


def build(name: str, budget: int) -> list[str]:
    return {"code": code, "multilingual": multilingual, "adversarial": adversarial}[name](budget)


def held_out(name: str, budget: int, size: int) -> list[str]:
    """About ``size`` bytes of the same kind of text as ``build(name, budget)`` that shares no document with it
    (code: the next standard-library modules; multilingual: catalogues and help topics it left out; adversarial:
    other seeds of the same generator, without its fixed long runs). Used to warm a cache on text the timed
    pass never sees."""
    taken = set(build(name, budget))
    if name == "adversarial":
        docs, seed = [], 0
        while sum(len(d.encode()) for d in docs) < size:
            docs.append(adversarial_held_out(seed))
            seed += 1
        return docs
    pool = build(name, budget + 4 * size)
    return _take([d for d in pool if d not in taken], size)


def adversarial_held_out(seed: int) -> str:
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    from adversarial import adversarial_text

    return adversarial_text(900_000 + seed, 20_000).replace("<|", "< |")


def n_languages() -> int:
    import django

    root = os.path.dirname(django.__file__)
    return len(set(os.path.basename(os.path.dirname(os.path.dirname(p)))
                   for p in glob.glob(os.path.join(root, "conf", "locale", "*", "LC_MESSAGES", "django.po"))))
