"""Issue 14, finding 6: encode-corpus locks its directory, hashes its shards and confines shard names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from tokenlab.cli import main
from tokenlab.corpus import MANIFEST, encode_corpus, load_shards, verify_shards
from tokenlab.errors import FormatError, InvalidInputError

from reliability_util import small_tokenizer

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, "src"))


@pytest.fixture()
def setup(tmp_path):
    tok = tmp_path / "tok.json"
    small_tokenizer().save(tok)
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"hello the world {i} and more words here\n" for i in range(3000)))
    return str(tok), str(corpus), tmp_path / "out"


def _run(tok, corpus, out, **kw):
    return encode_corpus([corpus], tok, out, shard_tokens=5000, unit_bytes=4096, workers=1, progress=False, **kw)


def test_manifest_has_a_sha256_per_shard_and_verify_shards_checks_them(setup):
    tok, corpus, out = setup
    manifest = _run(tok, corpus, out)
    assert len(manifest["shards"]) > 3 and all(len(s["sha256"]) == 64 for s in manifest["shards"])
    assert verify_shards(out)["total_tokens"] == manifest["total_tokens"]
    result = CliRunner().invoke(main, ["verify-shards", str(out)])
    assert result.exit_code == 0 and result.output.startswith("ok: ")
    shard = out / manifest["shards"][1]["file"]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 40])  # a truncated shard in a completed run: was not detected
    with pytest.raises(FormatError, match="SHA-256"):
        verify_shards(out)
    result = CliRunner().invoke(main, ["verify-shards", str(out)])
    assert result.exit_code == 1 and result.output.startswith("error: ") and shard.name in result.output
    with pytest.raises(InvalidInputError, match="SHA-256"):  # resuming re-checks the shards too
        _run(tok, corpus, out)


@pytest.mark.parametrize("name", ["../evil.npy", "/etc/passwd", "shard-000001.npy/../../x", "sub/shard-000001.npy"])
def test_shard_names_outside_the_directory_are_refused(setup, name):
    tok, corpus, out = setup
    _run(tok, corpus, out)
    path = out / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["shards"][0]["file"] = name
    path.write_text(json.dumps(manifest))
    for call in (lambda: load_shards(out), lambda: verify_shards(out), lambda: _run(tok, corpus, out)):
        with pytest.raises(FormatError, match="shard name"):
            call()


def test_second_concurrent_run_is_refused(setup):
    tok, corpus, out = setup
    script = (
        "import sys, time\n"
        "from tokenlab.corpus import locked\n"
        "from pathlib import Path\n"
        "with locked(Path(sys.argv[1])):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=SRC))
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = CliRunner().invoke(main, ["encode-corpus", corpus, "-t", tok, "-o", str(out), "--overwrite",
                                           "--no-progress", "--workers", "1"])
        assert result.exit_code == 1 and result.output.startswith("error: ")
        assert "another encode-corpus run" in result.output and str(holder.pid) in result.output
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    assert _run(tok, corpus, out, overwrite=True)["complete"]  # the lock dies with its process
