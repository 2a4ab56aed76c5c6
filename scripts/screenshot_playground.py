"""Screenshot of `tokenlab serve` in headless Chromium (Debian: apt-get install chromium chromium-driver
fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji; pip install selenium) -> docs/playground.png.

Usage: python scripts/screenshot_playground.py [OUT.png] [-t TOKENIZER ...]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from tokenlab.cli.evaluate import _load_all
from tokenlab.serve import Playground, make_server_for

SAMPLE = ("The tokenizer's job: turn “naïve café” text into ids. Der Tokenizer zerlegt Wörter; "
          "токенизатор режет слова; 分词器把句子切成词元。トークナイザー。토크나이저 🙂👍🏽\n"
          "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)  # 1234567.89\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="docs/playground.png")
    parser.add_argument("-t", "--tokenizer", dest="specs", action="append")
    args = parser.parse_args()
    playground = Playground(_load_all(args.specs or ["cl100k", "o200k", "tekken", "train:prose"]))
    server = make_server_for(playground, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="tokenlab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1400,740"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(f"http://127.0.0.1:{server.server_port}/")
        driver.execute_script(
            "const box = document.getElementById('text'); box.value = arguments[0];"
            "box.dispatchEvent(new Event('input', {bubbles: true}));", SAMPLE)
        WebDriverWait(driver, 60).until(
            lambda d: d.find_element("id", "results").get_attribute("data-pending") == "0"
            and d.find_element("id", "results").get_attribute("data-chars") not in (None, "", "0"))
        time.sleep(0.5)  # fonts
        driver.save_screenshot(args.out)
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"screenshot -> {args.out}")


if __name__ == "__main__":
    main()
