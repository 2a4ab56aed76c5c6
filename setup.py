"""Build the optional C kernel; everything else is declared in pyproject.toml.

``optional=True``: where no C compiler is available the install still succeeds and tokenlab runs
its numba / pure-Python paths (same ids, slower).
"""

import hashlib
import os
import platform

from setuptools import Extension, setup

flags = ["-O3", "-std=c99", "-fno-strict-aliasing"]
AVX512 = ["-mavx512f", "-mavx512bw", "-mbmi", "-mbmi2", "-mlzcnt", "-mpopcnt"]
# _corpus.c compiles _bpe.c into itself and reads Encoder objects made by the _bpe module: both carry this id of
# _bpe.c's text, and _corpus refuses an Encoder from another version of it (stale .so files of a partial rebuild)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "src/tokenlab/kernels/_bpe.c"), "rb") as f:
    BPE_ID = [("BPE_SOURCE_ID", str(int(hashlib.sha1(f.read()).hexdigest()[:15], 16)) + "ull")]
if os.environ.get("TOKENLAB_NATIVE_ARCH"):  # opt-in: tune for this CPU (not portable to others)
    flags.append("-march=native")

setup(
    ext_modules=[
        Extension("tokenlab.kernels._bpe", ["src/tokenlab/kernels/_bpe.c"], define_macros=BPE_ID,
                  extra_compile_args=flags, optional=True),
        Extension("tokenlab.kernels._train", ["src/tokenlab/kernels/_train.c"], extra_compile_args=flags,
                  optional=True),
        # includes _bpe.c and _train.c (the encoder's pre-tokenizer feeding the counting table)
        Extension("tokenlab.kernels._count", ["src/tokenlab/kernels/_count.c"], extra_compile_args=flags,
                  depends=["src/tokenlab/kernels/_bpe.c", "src/tokenlab/kernels/_train.c"], optional=True),
        Extension("tokenlab.kernels._sp", ["src/tokenlab/kernels/_sp.c"], extra_compile_args=flags,
                  optional=True),
        Extension("tokenlab.kernels._lines", ["src/tokenlab/kernels/_lines.c"], extra_compile_args=flags,
                  depends=["src/tokenlab/kernels/_utf8.h"], optional=True),
        # includes _bpe.c (encode-corpus: lines of a buffer encoded with an Encoder's own tables and caches)
        Extension("tokenlab.kernels._corpus", ["src/tokenlab/kernels/_corpus.c"], define_macros=BPE_ID,
                  extra_compile_args=flags, optional=True,
                  depends=["src/tokenlab/kernels/_bpe.c", "src/tokenlab/kernels/_utf8.h"]),
    ]
    # the encoder again with AVX-512BW, loaded at run time only where the CPU has it (kernels/__init__.py)
    + ([Extension("tokenlab.kernels._bpe_avx512", ["src/tokenlab/kernels/_bpe_avx512.c"], define_macros=BPE_ID,
                  extra_compile_args=flags + AVX512, depends=["src/tokenlab/kernels/_bpe.c"], optional=True),
        Extension("tokenlab.kernels._corpus_avx512", ["src/tokenlab/kernels/_corpus_avx512.c"], define_macros=BPE_ID,
                  extra_compile_args=flags + AVX512, optional=True,
                  depends=["src/tokenlab/kernels/_corpus.c", "src/tokenlab/kernels/_bpe.c",
                           "src/tokenlab/kernels/_utf8.h"])]
       if platform.machine().lower() in ("x86_64", "amd64") else [])
)
