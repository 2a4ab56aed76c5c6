"""Multilingual and adversarial text made at test time from a seed (no files): real lines in 25 languages
mixed with random code points from every plane (assigned, unassigned and newly assigned ones), combining-mark
stacks, emoji ZWJ/flag/skin-tone sequences, digit, punctuation and whitespace runs, and sentencepiece's "▁"."""

from __future__ import annotations

import random

# code points assigned in recent Unicode versions (letters, digits, marks, symbols), which older tables may not know
NEW_CODE_POINTS = [
    *range(0x11F00, 0x11F5A), *range(0x13460, 0x143FA), *range(0x1E4D0, 0x1E4FA), *range(0x1E030, 0x1E08F),
    *range(0x31350, 0x323AF), *range(0x2EBF0, 0x2EE5D), *range(0x11B00, 0x11B0A), *range(0x10D40, 0x10D8F),
    *range(0x11BC0, 0x11BF9), *range(0x1E5D0, 0x1E5FB), *range(0x16100, 0x1613A), *range(0x16D40, 0x16D7A),
    *range(0x1FACA, 0x1FACF), 0x0B55, 0x0C84, 0x0C8C, 0x1DF00, 0x1DF25, *range(0x19080, 0x190A0),
    *range(0x10EC0, 0x10ED0), *range(0x1CC00, 0x1CCFA), 0x1C89, 0x1C8A, 0xA7CB, 0xA7CC, 0xA7DA, 0xA7DC,
]

# assigned in Unicode 16.0-17.0, where the installed `regex` and tiktoken's older tables disagree
UNICODE_16_17 = [
    *range(0x1ACF, 0x1AF1), *range(0xFBC3, 0xFBD3), *range(0x10940, 0x1095A), *range(0x10EC9, 0x10EEF),
    *range(0x10EF0, 0x10EFC), *range(0x11DB0, 0x11DDC), *range(0x11DE0, 0x11DEA), *range(0x12475, 0x12480),
    *range(0x12550, 0x12687), *range(0x16EA0, 0x16EB9), *range(0x16EBB, 0x16ED4), *range(0x18D09, 0x18D21),
    *range(0x18D80, 0x18DF3), *range(0x18E00, 0x19192), *range(0x191A0, 0x191D3), *range(0x1CEBA, 0x1CED1),
    *range(0x1CEDD, 0x1CEFE), *range(0x1D1EB, 0x1D200), *range(0x1D250, 0x1D282), *range(0x1DB00, 0x1DB1D),
    *range(0x1DF2B, 0x1DF82), *range(0x1DFCD, 0x1E000), *range(0x1E6C0, 0x1E6DF), *range(0x1E6E0, 0x1E6F6),
    *range(0x1F7F1, 0x1F800), *range(0x1F8D0, 0x1F8D9), *range(0x2CEA2, 0x2CEAE), *range(0x323B0, 0x3347A),
    *range(0x3D000, 0x3FC40), 0x0558, 0x058B, 0x05C8, 0x088F, 0x0B53, 0x0C5C, 0x0CDC, 0x208F, 0x209D, 0x20C1,
    0x2B96, 0x2E60, 0xA7CE, 0xA7D2, 0xA7D4, 0xA7DD, 0xA7E2, 0xA7F1, 0xAB6C, 0xFD90, 0xFDC8, 0x107BB, 0x10EC5,
    0x11B0A, 0x11B60, 0x11DF0, 0x1246F, 0x16FF2, 0x187F8, 0x18CD6, 0x1B123, 0x1B168, 0x1CCFA, 0x1CED2, 0x1D127,
    0x1D6A6, 0x1DF1F, 0x1DF90, 0x1E6FE, 0x1F1AE, 0x1F6D8, 0x1F777, 0x1F7DA, 0x1FA54, 0x1FA8A, 0x1FAC8, 0x1FACC,
    0x1FADD, 0x1FAEA, 0x1FAEF, 0x1FAF9, 0x1FBFA, 0x2B73A, 0x2B81E,
]
NEW_CODE_POINTS += UNICODE_16_17

_BLOCK_STARTS = [0x0000, 0x0080, 0x0100, 0x0250, 0x0370, 0x0400, 0x0530, 0x0590, 0x0600, 0x0700, 0x0900, 0x0980,
                 0x0B80, 0x0E00, 0x0F00, 0x10A0, 0x1100, 0x1200, 0x13A0, 0x1780, 0x1E00, 0x1F00, 0x2000, 0x2100,
                 0x2190, 0x2500, 0x2600, 0x2700, 0x2E80, 0x3000, 0x3040, 0x30A0, 0x3100, 0x3400, 0x4E00, 0xA000,
                 0xA800, 0xAC00, 0xE000, 0xF900, 0xFB00, 0xFE00, 0xFF00, 0xFFF0, 0x10000, 0x10300, 0x11000,
                 0x12000, 0x16800, 0x1D400, 0x1F000, 0x1F300, 0x1F600, 0x1F900, 0x20000, 0x2A700, 0x30000,
                 0x3FFF0, 0xE0000, 0xF0000, 0x10FF00]
_COMBINING = [0x0300, 0x0301, 0x0308, 0x0327, 0x0336, 0x093C, 0x0E49, 0x1AB0, 0x1DC0, 0x20D0, 0x302A, 0xFE20,
              0x0651, 0x05B4, 0x1F3FB, 0xFE0F, 0x200D]
_EMOJI = ["😀", "👍🏽", "👩\u200d💻", "👨\u200d👩\u200d👧\u200d👦", "🇫🇷", "🇯🇵", "🏳️\u200d🌈", "❤️", "🫶🏿",
          "🧑🏻\u200d🚀", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "#️⃣", "🫨", "🪉"]
_SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "\u3000", "\u00a0", "\u2009", "\u200b", "\u2581", " \u2581",
           "\x0b", "\x0c", "\u2028", "\u0085"]
_PUNCT = list(".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`") + ["'s", "'re", "n't", "...", "—", "«", "»", "「", "」",
                                                      "<s>", "</s>", "<unk>", "[INST]", "<|endoftext|>", "<0x41>"]


def _random_char(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.3:
        cp = rng.choice(NEW_CODE_POINTS)
    elif r < 0.85:
        cp = rng.choice(_BLOCK_STARTS) + rng.randrange(0x100)
    else:
        cp = rng.randrange(0x110000)
    if 0xD800 <= cp <= 0xDFFF:
        cp = 0xFFFD
    return chr(min(cp, 0x10FFFF))


def _piece(rng: random.Random, lines: list[str]) -> str:
    r = rng.random()
    if r < 0.35 and lines:
        line = rng.choice(lines)
        start = rng.randrange(len(line))
        return line[start:start + rng.randrange(1, 80)]
    if r < 0.55:
        return "".join(_random_char(rng) for _ in range(rng.randrange(1, 6)))
    if r < 0.62:
        return _random_char(rng) + "".join(chr(rng.choice(_COMBINING)) for _ in range(rng.randrange(1, 5)))
    if r < 0.70:
        return rng.choice(_EMOJI)
    if r < 0.78:
        return "".join(rng.choice("0123456789٠١٢٣٤٥٦٧٨٩０１２") for _ in range(rng.randrange(1, 14)))
    if r < 0.90:
        return rng.choice(_SPACES) * rng.randrange(1, 4)
    if r < 0.96:
        return rng.choice(_PUNCT)
    return rng.choice(["a", "ab", "Zxxx", "The", " the", "HTTP", "i", "I'm", "12345", "élan", "ß", "İ"])


def multilingual_lines() -> list[str]:
    from tokenlab.demo import demo_corpus

    return [line for line in demo_corpus().splitlines(keepends=True)[:26] if line.strip()]


def adversarial_document(rng: random.Random, size: int, lines: list[str] | None = None) -> str:
    """About ``size`` characters of mixed multilingual and adversarial text."""
    lines = multilingual_lines() if lines is None else lines
    parts: list[str] = []
    total = 0
    while total < size:
        part = _piece(rng, lines)
        parts.append(part)
        total += len(part)
    return "".join(parts)


def snippets(seed: int, count: int, max_len: int = 40) -> list[str]:
    """``count`` random slices (1..max_len characters) of a seeded adversarial text."""
    rng = random.Random(seed)
    text = adversarial_document(rng, max(20_000, count * 4))
    out = []
    for _ in range(count):
        start = rng.randrange(len(text) - 1)
        out.append(text[start:start + rng.randrange(1, max_len + 1)])
    return out
