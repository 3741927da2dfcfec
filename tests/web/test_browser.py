"""The catalogue in a real headless Chromium: no console errors, sorting, filtering, a card's download,
the plot, escaping as the browser sees it, and nothing loaded from anywhere but the server."""

from __future__ import annotations

import hashlib
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from support.browser import artefacts_dir, chromium, console_errors, needs_browser, resource_urls
from web.conftest import FIXTURE_MODEL, HOSTILE

from zoo.registry import load_registry
from zoo.web.pages_models import ROW_LIMIT

pytestmark = [needs_browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def open_page(browser: Any, url: str) -> None:
    browser.get(url)
    browser.execute_script("return document.readyState")  # get() has waited for the load event
    console_errors(browser)  # noqa: B018 (reading drains the log of earlier pages)


def visible_names(browser: Any) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#models tbody tr:not([hidden]) td:first-child'),"
        " (td) => td.textContent)"
    )


def assert_same_origin(browser: Any, origin: str) -> None:
    urls = resource_urls(browser)
    assert urls, "the page loads its style sheet at least"
    strange = [u for u in urls if not u.startswith(origin + "/") and not u.startswith("data:")]
    assert not strange, f"resources from elsewhere: {strange}"


def test_models_page_loads_clean_sorts_and_filters(browser, live, tmp_path):
    browser.get(live.url + "/")
    errors = console_errors(browser)
    assert errors == [], errors
    assert_same_origin(browser, live.url)
    total = len(load_registry())
    assert total > ROW_LIMIT and len(visible_names(browser)) == ROW_LIMIT  # the first rows, until asked
    assert browser.find_element("css selector", ".count").text == (
        f"the first {ROW_LIMIT} of {total} matching models ({total} in all)"
    )
    browser.find_element("css selector", "button.more").click()
    every = visible_names(browser)
    assert len(every) == total and HOSTILE in every

    browser.find_element("css selector", "#models th:nth-child(5)").click()  # Params (M), ascending
    params = browser.execute_script(
        "return Array.from(document.querySelectorAll('#models tbody td:nth-child(5)'),"
        " (td) => td.dataset.value)"
    )
    known = [float(p) for p in params if p]
    assert known == sorted(known) and len(known) > 50 and visible_names(browser) != every
    assert params[-1] == ""  # models without a parameter count go last

    search = browser.find_element("css selector", "input[name=q]")
    search.send_keys("mobilenet_v1")
    shown = visible_names(browser)
    assert 0 < len(shown) < len(every) and all("mobilenet_v1" in n for n in shown)
    assert browser.find_element("css selector", ".count").text == f"{len(shown)} of {len(every)} models"
    browser.find_element("css selector", "input[name=measured]").click()
    assert visible_names(browser) == [FIXTURE_MODEL]  # the one measured on this machine
    browser.save_screenshot(str(artefacts_dir(tmp_path) / "models-filtered.png"))
    assert console_errors(browser) == []


def test_card_checksum_and_download_match(browser, live, tmp_path):
    open_page(browser, f"{live.url}/models/{FIXTURE_MODEL}.html")
    notop = load_registry().get(FIXTURE_MODEL).weights["notop"]
    row = browser.find_element("css selector", "#weights tr[data-variant=notop]")
    assert f"sha256 {notop.sha256}" in row.text and "pinned" in row.text
    href = row.find_element("css selector", "a.download").get_attribute("href")
    assert urllib.parse.urlsplit(href).netloc == urllib.parse.urlsplit(live.url).netloc
    with urllib.request.urlopen(href, timeout=30) as response:
        assert hashlib.sha256(response.read()).hexdigest() == notop.sha256
    assert_same_origin(browser, live.url)
    browser.save_screenshot(str(artefacts_dir(tmp_path) / "card.png"))
    assert console_errors(browser) == []


def test_hostile_registry_text_shows_as_text(browser, live, tmp_path):
    for path in ("/", f"/models/{HOSTILE}.html"):
        open_page(browser, live.url + path)
        body = browser.find_element("tag name", "body").text
        assert "<script>window.pwned=1</script>" in body  # rendered as the characters it is
        assert browser.execute_script("return window.pwned === undefined")
        assert browser.execute_script("return document.querySelectorAll('script:not([src])').length") == 0
    links = browser.execute_script("return Array.from(document.links, (a) => a.protocol)")
    assert "javascript:" not in links
    browser.save_screenshot(str(artefacts_dir(tmp_path) / "hostile-card.png"))


def test_measured_page_plot_renders(browser, live, tmp_path):
    open_page(browser, live.url + "/measured.html")
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('img.plot'), (img) => img.complete && img.naturalWidth)"
    )
    assert len(widths) == 2 and all(w > 0 for w in widths)
    assert_same_origin(browser, live.url)
    browser.save_screenshot(str(artefacts_dir(tmp_path) / "measured.png"))
    assert console_errors(browser) == []


def test_static_site_works_from_files(browser, home, tmp_path):
    from zoo.web import build_catalog

    out = tmp_path / "site"
    build_catalog(out)
    open_page(browser, (out / "index.html").as_uri())
    assert len(visible_names(browser)) == ROW_LIMIT
    browser.find_element("css selector", "input[name=q]").send_keys(FIXTURE_MODEL)
    assert visible_names(browser) == [FIXTURE_MODEL]
    browser.find_element("link text", FIXTURE_MODEL).click()
    assert browser.current_url == (out / "models" / f"{FIXTURE_MODEL}.html").as_uri()
    assert "sha256" in browser.find_element("id", "weights").text
    assert all(u.startswith("file://") or u.startswith("data:") for u in resource_urls(browser))
    assert console_errors(browser) == []
