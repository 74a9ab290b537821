"""A real browser for tests: Debian's chromium, headless, driven by chromedriver through selenium.

    with chrome() as driver:
        login(driver, "http://127.0.0.1:8080", "admin", "secret")   # Airflow's simple auth manager
        driver.get("http://127.0.0.1:8080/dags")
        wait_for_text(driver, "my_dag")
        screenshot(driver, tmp_path / "dags.png")

``chrome()`` starts ``/usr/bin/chromedriver`` with ``/usr/bin/chromium`` (installed by
``scripts/setup`` from Debian's packages), headless, with a fresh profile directory that is
removed afterwards, and no background traffic (no sync, component updates or QUIC), so the
browser talks to 127.0.0.1 only. :func:`browser_available` tells whether both binaries exist.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
DEFAULT_WAIT = 60.0


def browser_available() -> bool:
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


@contextlib.contextmanager
def chrome(*, log_path: Path | None = None) -> Iterator[Any]:
    """A headless chromium WebDriver with a fresh profile; always quit, profile removed."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="abx-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log_path) if log_path else None)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(DEFAULT_WAIT)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for_text(driver: Any, text: str, timeout: float = DEFAULT_WAIT) -> None:
    """Wait until ``text`` is part of the page's visible text."""
    from selenium.webdriver.support.ui import WebDriverWait

    def shows(d: Any) -> bool:
        return text in d.find_element("tag name", "body").text

    WebDriverWait(driver, timeout).until(shows, message=f"{text!r} never shown on {driver.current_url}")


def login(driver: Any, base_url: str, user: str, password: str, timeout: float = DEFAULT_WAIT) -> None:
    """Log in through Airflow's login page (simple auth manager) and wait for the home page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url.rstrip('/')}/")
    wait = WebDriverWait(driver, timeout)
    username = wait.until(ec.visibility_of_element_located((By.NAME, "username")))
    username.send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/auth/" not in d.current_url, message="still on the login page after signing in")


def screenshot(driver: Any, path: Path) -> Path:
    """Save a PNG of the current page (for a failing test, or to look at)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
