"""The reviewer's pages in a real headless Chromium: they render, the charts show, and the
Japanese is drawn with real glyphs, not empty boxes.

A live uvicorn server on 127.0.0.1 (a free port) serves create_app on the served world. The
browser sends X-API-Key and X-Purpose with every request (set through the DevTools protocol),
as the municipality's system in front of the service does, so a link followed in the page is
authenticated like the first request.

Needs Debian's chromium and chromium-driver (`make test` installs them when missing).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from tests.service.reports.service_world import ReportWorld, app_with_pages, report_world

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FONT = "IPAexGothic"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def world(served_world) -> ReportWorld:  # type: ignore[no-untyped-def]
    return report_world(served_world)


@pytest.fixture(scope="module")
def server(world: ReportWorld) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        app_with_pages(world.settings), host="127.0.0.1", port=port, log_level="warning"
    )
    live = uvicorn.Server(config)
    thread = threading.Thread(target=live.run, name="uvicorn-browser-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not live.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    live.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser(world: ReportWorld):  # type: ignore[no-untyped-def]
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(`make test` does it; or `apt-get install -y chromium chromium-driver`)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1800",
        "--lang=ja-JP",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": world.headers("reviewer", "case_conference")}
    )
    yield driver
    driver.quit()


def _fonts_ready(driver) -> None:  # type: ignore[no-untyped-def]
    driver.execute_async_script(
        "const done = arguments[0]; document.fonts.ready.then(() => done());"
    )


def _glyph_checks(driver, text: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """What the browser says about drawing `text` in the page's font.

    Two different characters drawn as the same bitmap are missing-glyph boxes: a font that
    really has them draws them differently. The width check catches a silent fallback: a real
    CJK font gives full-width glyphs of one em each.
    """
    return driver.execute_script(
        """
        const [text, family] = arguments;
        const faces = [...document.fonts].filter(f => f.family.replace(/"/g, '') === family);
        const canvas = document.createElement('canvas');
        canvas.width = 64; canvas.height = 64;
        const ctx = canvas.getContext('2d', {willReadFrequently: true});
        const draw = (ch, font) => {
          ctx.clearRect(0, 0, 64, 64); ctx.font = font; ctx.fillStyle = '#000';
          ctx.fillText(ch, 4, 52);
          return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(',');
        };
        const chars = [...new Set([...text].filter(c => c.charCodeAt(0) > 0x3000))];
        const ours = chars.map(c => draw(c, `48px "${family}"`));
        const fallback = chars.map(c => draw(c, '48px "no-such-font-mimamori", serif'));
        ctx.font = `32px "${family}"`;
        const width = ctx.measureText(text).width;
        ctx.font = '32px "no-such-font-mimamori", serif';
        const fallbackWidth = ctx.measureText(text).width;
        return {
          loaded: faces.some(f => f.status === 'loaded'),
          check: document.fonts.check(`16px "${family}"`, text),
          distinct: new Set(ours).size,
          chars: chars.length,
          fallbackDistinct: new Set(fallback).size,
          width, fallbackWidth,
          bodyFont: getComputedStyle(document.body).fontFamily,
        };
        """,
        text,
        FONT,
    )


def _screenshot_is_not_blank(driver, path: Path) -> None:  # type: ignore[no-untyped-def]
    assert driver.save_screenshot(str(path))
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        width, height = image.size
    assert width > 0 and height > 0
    assert colours is not None and len(colours) > 20, "the screenshot is (almost) one colour"
    white = sum(count for count, colour in colours if colour == (255, 255, 255))
    assert white < 0.98 * width * height, "the screenshot is blank"


def _assert_real_glyphs(driver, text: str) -> None:  # type: ignore[no-untyped-def]
    result = _glyph_checks(driver, text)
    assert FONT in result["bodyFont"]
    assert result["loaded"], f"the @font-face {FONT} did not load: {result}"
    assert result["check"], f"document.fonts.check says {FONT} cannot draw {text!r}"
    # Every distinct character drawn differently: no empty boxes.
    assert result["distinct"] == result["chars"] >= 2, result
    # Full-width glyphs: one em (32 px) per character, within a pixel.
    assert abs(result["width"] - 32 * len(text)) < len(text), result


def test_the_case_conference_page_and_a_report_render_in_japanese(
    browser,
    server: str,
    world: ReportWorld,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/v1/municipalities/{world.home}/flagged.html")
    _fonts_ready(browser)
    heading = browser.find_element(By.ID, "title").text
    assert heading == "ケース会議リスト"  # read back as written: not mojibake
    assert "ケース会議リスト" in browser.title
    _assert_real_glyphs(browser, "見守り")
    _assert_real_glyphs(browser, heading)
    links = browser.find_elements(By.CSS_SELECTOR, "a.report-link")
    assert links, "the list shows flagged children"
    _screenshot_is_not_blank(browser, tmp_path / "flagged.png")

    child = links[0].text
    links[0].click()  # the link, followed as a reviewer would (headers come from the browser)
    _fonts_ready(browser)
    assert browser.find_element(By.ID, "title").text == "見守りレポート"
    assert browser.find_element(By.ID, "child-id").text == child
    _assert_real_glyphs(browser, "見守りレポート")
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert len(charts) >= 5
    for chart in charts:
        size = chart.size
        assert size["width"] > 100 and size["height"] > 50, size
    body = browser.find_element(By.TAG_NAME, "body").text
    for words in ("困難の種類ごとのスコア", "データと鮮度", "モデルにわからないこと"):
        assert words in body
    _screenshot_is_not_blank(browser, tmp_path / "report.png")


def test_without_the_shipped_font_japanese_would_fall_back_to_boxes(
    browser,
    server: str,
    world: ReportWorld,  # type: ignore[no-untyped-def]
) -> None:
    """The glyph check above can fail: on this machine a font that is not there draws every
    character as the same box (skipped where the system has a CJK font of its own)."""
    browser.get(f"{server}/v1/municipalities/{world.home}/flagged.html")
    _fonts_ready(browser)
    result = _glyph_checks(browser, "見守り")
    if result["fallbackDistinct"] > 1:
        pytest.skip("the system has a CJK font, so a fallback draws real glyphs")
    assert result["distinct"] > result["fallbackDistinct"]
