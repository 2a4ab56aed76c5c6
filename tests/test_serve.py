"""`tokenlab serve`: the JSON API over HTTP, the CLI, and the page in a real headless Chromium.

The browser test types and pastes text into the page, waits for the live counts and compares them with the
library's own ``encode``; it needs Debian's chromium + chromium-driver (`.ci/run` installs them) and skips,
saying why, where they are missing.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from adversarial import adversarial_text
from adversarial_text import multilingual_lines

pytest.importorskip("bottle")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TYPED = "Hello wörld, Привет мир! 東京タワー 1234567.89 — def f(x):\n    return x ** 2  # ok\n"


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory, real_docs):
    """cl100k and tekken (shipped by packages), the byte baseline, and a small BPE trained here as mine.json."""
    from tokenlab.evaluate.report import reference_tokenizer
    from tokenlab.train.bpe import train_bpe

    path = tmp_path_factory.mktemp("serve") / "mine.json"
    train_bpe(real_docs[-300:] + multilingual_lines(), vocab_size=600, pretokenizer="cl100k",
              progress=False).save(path)
    specs = ["cl100k", "tekken", "utf8-bytes", str(path)]
    return {spec if spec != str(path) else "mine": reference_tokenizer(spec) for spec in specs}


@pytest.fixture(scope="module")
def server(tokenizers):
    from tokenlab.serve import Playground, make_server_for

    srv = make_server_for(Playground(tokenizers, max_chars=50_000), port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


def _request(url, data: bytes | None = None, method: str | None = None):
    """(status, parsed JSON or text, content type)."""
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            status, body, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, body, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    text = body.decode("utf-8")
    return status, (json.loads(text) if ctype.startswith("application/json") else text), ctype


def _post(url, payload):
    return _request(url, json.dumps(payload).encode("utf-8"))


def _ordinary_ids(tok, text):
    """What the page shows: the text's tokens without added BOS/EOS (the byte tokenizer's encode adds them)."""
    return list(tok.encode_ordinary(text))


# ---------------------------------------------------------------------------- JSON API
@pytest.mark.parametrize("seed", [0, 1])
def test_api_tokenize_equals_the_library(server, tokenizers, seed):
    rng = random.Random(seed)
    text = adversarial_text(seed, 3000) + "".join(rng.sample(multilingual_lines(), 10))
    status, answer, _ = _post(server + "/api/tokenize", {"text": text})
    assert status == 200
    assert answer["chars"] == len(text) and answer["bytes"] == len(text.encode("utf-8"))
    assert [r["name"] for r in answer["tokenizers"]] == list(tokenizers)
    for result in answer["tokenizers"]:
        tok = tokenizers[result["name"]]
        expected = _ordinary_ids(tok, text)
        assert result["ids"] == expected, result["name"]
        if result["name"] != "utf8-bytes":
            assert result["count"] == len(tok.encode(text, disallowed_special=()))  # special strings typed are text
        assert result["count"] == len(expected)
        assert result["bytes_per_token"] == pytest.approx(len(text.encode("utf-8")) / len(expected))
        # the coloured spans spell the text and hold every id once, in order
        assert "".join(result["pieces"]) == text
        assert [i for group in result["piece_ids"] for i in group] == expected
        for piece, group in zip(result["pieces"], result["piece_ids"]):
            assert tok.decode(group) == piece


def test_api_empty_text_and_tokenizer_list(server, tokenizers):
    status, answer, _ = _post(server + "/api/tokenize", {"text": ""})
    assert status == 200
    assert all(r["count"] == 0 and r["bytes_per_token"] is None for r in answer["tokenizers"])
    status, info, _ = _request(server + "/api/tokenizers")
    assert status == 200 and [t["name"] for t in info["tokenizers"]] == list(tokenizers)
    assert info["max_chars"] == 50_000


@pytest.mark.parametrize("body, status, fragment", [
    (b"not json", 400, "not JSON"),
    (b"\xff\xfe", 400, "not valid UTF-8"),
    (b"[1, 2]", 400, "JSON object"),
    (b"{}", 400, "missing 'text'"),
    (b'{"text": 42}', 400, "must be a string"),
    (b'{"text": "a\\ud800b"}', 400, "lone surrogate (U+D800)"),
    (json.dumps({"text": "x" * 50_001}).encode(), 413, "the limit is 50,000"),
    (b'{"text": "' + b"y" * 700_000 + b'"}', 413, "request body"),
])
def test_api_errors_are_short_json(server, body, status, fragment):
    got, answer, ctype = _request(server + "/api/tokenize", body)
    assert (got, ctype.split(";")[0]) == (status, "application/json")
    assert fragment in answer["error"] and "Traceback" not in answer["error"]


def test_unknown_paths_and_methods_are_json_errors(server):
    for url, method, status in [("/nope", "GET", 404), ("/api/tokenize", "GET", 405), ("/report/abc", "GET", 404),
                                ("/static/../app.py", "GET", 404)]:
        got, answer, _ = _request(server + url, method=method)
        assert got == status and isinstance(answer, dict) and answer["error"], url


def test_report_on_typed_text(server, tokenizers):
    status, answer, _ = _post(server + "/api/report", {"text": TYPED * 3})
    assert status == 200, answer
    status, page, ctype = _request(server + answer["url"])
    assert status == 200 and ctype.startswith("text/html")
    assert "Tokenizer comparison on the typed text" in page
    assert all(name in page for name in tokenizers)
    for payload, fragment in [({"text": "  "}, "non-blank"), ({"corpus": "nope"}, "unknown corpus"), ({}, "either")]:
        status, answer, _ = _post(server + "/api/report", payload)
        assert status == 400 and fragment in answer["error"]


def test_report_on_a_shipped_corpus(server, tokenizers):
    status, answer, _ = _post(server + "/api/report", {"corpus": "parallel"})
    assert status == 200, answer
    status, page, _ = _request(server + answer["url"])
    assert status == 200 and "Tokenizer comparison on parallel" in page and "token premium" in page.lower()


def test_a_failing_tokenizer_gives_a_json_500_without_traceback():
    from tokenlab.serve import Playground, make_server_for

    def broken(text):
        raise RuntimeError("boom")

    srv = make_server_for(Playground({"broken": broken}), port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        status, answer, ctype = _post(f"http://127.0.0.1:{srv.server_port}/api/tokenize", {"text": "x"})
    finally:
        srv.shutdown()
        srv.server_close()
    assert status == 500 and ctype.startswith("application/json")
    assert answer["error"] == "internal error: RuntimeError: boom"


def test_page_and_assets_are_local(server):
    status, page, ctype = _request(server + "/")
    assert status == 200 and ctype.startswith("text/html") and 'id="text"' in page
    for asset in ("playground.js", "playground.css"):
        status, body, _ = _request(f"{server}/static/{asset}")
        assert status == 200 and body
    assert "http://" not in page and "https://" not in page  # no CDN: everything comes from this server


# ---------------------------------------------------------------------------- CLI
def _serve_process(*args):
    return subprocess.Popen([sys.executable, "-m", "tokenlab", "serve", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


def _env():
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def test_cli_port_0_prints_the_url_and_serves():
    proc = _serve_process("-t", "utf8-bytes", "--port", "0")
    try:
        line = proc.stdout.readline()
        assert line.startswith("tokenlab playground: http://127.0.0.1:"), (line, proc.stderr.read())
        url = line.split()[2].rstrip("/")
        status, answer, _ = _post(url + "/api/tokenize", {"text": "hé"})
        assert status == 200 and answer["tokenizers"][0]["ids"] == [104, 195, 169]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_port_in_use_and_bad_tokenizer_are_one_line_errors(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "tokenlab", "serve", "-t", "utf8-bytes", "--port", str(port)],
                              capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 1 and f"error: port {port} is in use" in done.stderr
    assert "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "tokenlab", "serve", "-t", str(tmp_path / "missing.json")],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 1 and "no such file" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------- headless browser
def chrome_driver():
    """A headless Chromium (Debian's chromium + chromium-driver) driven by selenium; skips when missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tokenlab-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver, profile


@pytest.fixture(scope="module")
def browser():
    driver, profile = chrome_driver()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _settled_counts(driver, text_length: int) -> dict[str, int]:
    """Wait until the page has drawn the answer for the textarea's current text; read every card's count."""
    from selenium.webdriver.support.ui import WebDriverWait

    def drawn(d):
        results = d.find_element("id", "results")
        return (results.get_attribute("data-pending") == "0"
                and results.get_attribute("data-chars") == str(text_length))

    WebDriverWait(driver, 60, poll_frequency=0.1).until(drawn)
    cards = driver.find_elements("css selector", "#results .card")
    return {c.get_attribute("data-tokenizer"): int(c.find_element("css selector", ".count").text) for c in cards}


def test_browser_typed_and_pasted_text_show_the_library_counts(server, tokenizers, browser):
    browser.get(server + "/")
    _settled_counts(browser, 0)  # the page has loaded and drawn the empty text
    box = browser.find_element("id", "text")
    box.send_keys(TYPED)  # real key events, as a user types (chromedriver types BMP characters only)
    value = browser.execute_script("return document.getElementById('text').value")
    assert value == TYPED
    counts = _settled_counts(browser, len(value))
    assert set(counts) == set(tokenizers)
    for name, tok in tokenizers.items():
        expected = len(tok.encode(value)) if name != "utf8-bytes" else len(_ordinary_ids(tok, value))
        assert counts[name] == expected, name
    shown = browser.find_element("css selector", "#results .card[data-tokenizer='cl100k'] .tokens")
    assert shown.get_attribute("textContent").replace("\u21b5\n", "\n") == value
    # one coloured span per token, or per group of tokens that each hold part of one character (ids on hover)
    titles = [span.get_attribute("title") for span in shown.find_elements("css selector", ".tok")]
    assert sum(len(t.split(" ", 1)[1].split(", ")) for t in titles) == counts["cl100k"]
    assert any(t.startswith("ids ") for t in titles)  # cl100k cuts some CJK characters in the middle

    # pasted text: emoji, combining marks, new code points (beyond what key events can type)
    pasted = adversarial_text(7, 800)
    browser.execute_script(
        "const box = document.getElementById('text'); box.value = arguments[0];"
        "box.dispatchEvent(new Event('input', {bubbles: true}));", pasted)
    value = browser.execute_script("return document.getElementById('text').value")  # as the browser keeps it
    counts = _settled_counts(browser, len(value))
    for name, tok in tokenizers.items():
        assert counts[name] == len(_ordinary_ids(tok, value)), name

    browser.find_element("id", "show-ids").click()  # ids under every span, in the library's order
    shown = browser.find_element("css selector", "#results .card[data-tokenizer='mine'] .tokens")
    ids = [int(i) for small in shown.find_elements("css selector", ".ids") for i in small.text.split()]
    assert ids == _ordinary_ids(tokenizers["mine"], value)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []  # no script or load errors


def test_browser_shows_a_clear_error_for_too_long_text(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    browser.execute_script(
        "const box = document.getElementById('text'); box.value = 'z'.repeat(50001);"
        "box.dispatchEvent(new Event('input', {bubbles: true}));")
    status = WebDriverWait(browser, 30).until(
        lambda d: (s := d.find_element("id", "status")).text.startswith("error") and s)
    assert "the limit is 50,000" in status.text and "error" in status.get_attribute("class")


def test_browser_opens_the_compare_report(server, tokenizers, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    browser.find_element("id", "text").send_keys("Tokenizers compared on the typed text, zweimal. " * 4)
    browser.find_element("id", "report-button").click()
    link = WebDriverWait(browser, 120).until(
        lambda d: (a := d.find_element("id", "report-link")).is_displayed() and a)
    browser.get(link.get_attribute("href"))
    assert "Tokenizer comparison on the typed text" in browser.title
    assert all(name in browser.page_source for name in tokenizers)
