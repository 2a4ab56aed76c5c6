"""Compiled kernels at the bottom of the stack: they take flat buffers and know nothing of files or classes.

``bpe``: the C byte-level BPE kernel (``_bpe.c``), or None where it was not built (no compiler at install
time) or is turned off with ``TOKENLAB_NO_NATIVE=1``; callers then use the numba or pure-Python paths. On CPUs
with AVX-512BW it is ``_bpe_avx512`` (the same source compiled with those instructions; ``TOKENLAB_KERNEL_ISA=
baseline`` keeps the SSE2 build, ``bpe_baseline``).
``train``: the C BPE training kernels (``_train.c``: merge loop, pretoken counting), or None likewise.
``count``: pretoken counting fed by the encoder's pre-tokenizer (``_count.c``, built from ``_bpe.c`` and
``_train.c``), or None likewise.
"""

from __future__ import annotations

import os

bpe = None
bpe_baseline = None  # the SSE2 build; ``bpe`` is the AVX-512 build of the same source where the CPU runs it
if os.environ.get("TOKENLAB_NO_NATIVE", "") in ("", "0"):
    try:
        from . import _bpe as bpe_baseline
    except ImportError:  # pragma: no cover - only where the extension could not be built
        bpe_baseline = None
    bpe = bpe_baseline
    if bpe is not None and os.environ.get("TOKENLAB_KERNEL_ISA", "") != "baseline" and bpe.cpu_has_avx512():
        try:
            from . import _bpe_avx512 as bpe
        except ImportError:  # built without it (not x86-64, or the compiler lacks the flags)
            bpe = bpe_baseline

train = None
if os.environ.get("TOKENLAB_NO_NATIVE", "") in ("", "0"):
    try:
        from . import _train as train
    except ImportError:  # pragma: no cover - only where the extension could not be built
        train = None

count = None
if os.environ.get("TOKENLAB_NO_NATIVE", "") in ("", "0"):
    try:
        from . import _count as count
    except ImportError:  # pragma: no cover - only where the extension could not be built
        count = None

sp = None  # the SentencePiece kernel (_sp.c): normalizer, score-ordered BPE, float32 Unigram Viterbi
if os.environ.get("TOKENLAB_NO_NATIVE", "") in ("", "0"):
    try:
        from . import _sp as sp
    except ImportError:  # pragma: no cover - only where the extension could not be built
        sp = None

lines = None  # encode-corpus's input side (_lines.c): lines of a buffer for the encoder, one-pass UTF-8 check
if os.environ.get("TOKENLAB_NO_NATIVE", "") in ("", "0"):
    try:
        from . import _lines as lines
    except ImportError:  # pragma: no cover - only where the extension could not be built
        lines = None

corpus = None  # encode-corpus's line encoder (_corpus.c, built from _bpe.c): lines of a buffer, no object per line
if os.environ.get("TOKENLAB_NO_NATIVE", "") in ("", "0"):
    try:
        if bpe is not None and bpe is not bpe_baseline:  # the same build of the encoder as ``bpe``
            try:
                from . import _corpus_avx512 as corpus
            except ImportError:
                from . import _corpus as corpus
        else:
            from . import _corpus as corpus
    except ImportError:  # pragma: no cover - only where the extension could not be built
        corpus = None
