"""A real headless Chromium (Debian's `chromium` + `chromium-driver`), driven by Selenium.

Never downloads a browser or a driver: the Service names /usr/bin/chromedriver, so selenium-manager is not
asked. Tests that need it skip with the reason when Chromium or Selenium is missing (CI installs both).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("ZOO_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("ZOO_CHROMEDRIVER", "/usr/bin/chromedriver"))


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.is_file():
            return f"{path} not found (apt-get install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'selenium>=4.20')"
    return None


needs_browser = pytest.mark.skipif(missing() is not None, reason=missing() or "")


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium WebDriver that keeps the browser's console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
    ):  # fmt: skip
        options.add_argument(arg)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """The browser console's errors since the last call (the log is drained on reading)."""
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def resource_urls(driver: Any) -> list[str]:
    """Every URL the page loaded or refers to: the performance log's resources and each src/href."""
    return driver.execute_script(
        """
        const urls = performance.getEntriesByType("resource").map((e) => e.name);
        for (const el of document.querySelectorAll("[src], link[href]")) urls.push(el.src || el.href);
        return urls;
        """
    )


def artefacts_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $ZOO_TEST_ARTEFACTS (kept after the run) or the test's tmp_path."""
    root = os.environ.get("ZOO_TEST_ARTEFACTS")
    folder = Path(root) / "web" if root else tmp_path / "artefacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
