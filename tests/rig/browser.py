"""Debian's chromium driven by selenium through Debian's chromedriver (nothing is downloaded).

Used by the Bundles page test and the demo's browser test.

    with chrome() as driver:
        login(driver, base_url, "admin", "pw")
        driver.get(f"{base_url}/plugin/bundles")
        wait_for_text(driver, "team-a")
        screenshot(driver, path)
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def _first(paths: tuple[str, ...], what: str) -> str:
    for path in paths:
        if Path(path).exists():
            return path
    found = shutil.which(Path(paths[0]).name)
    if found:
        return found
    raise FileNotFoundError(f"{what} not found ({', '.join(paths)}); run scripts/setup as root")


def available() -> bool:
    try:
        _first(CHROMIUM, "chromium")
        _first(CHROMEDRIVER, "chromedriver")
    except FileNotFoundError:
        return False
    return True


@contextmanager
def chrome(*, width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A headless chromium with a fresh profile; quit and the profile removed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="abx-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM, "chromium")
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    service = Service(executable_path=_first(CHROMEDRIVER, "chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def login(driver: Any, base_url: str, user: str, password: str, *, timeout: float = 30) -> None:
    """Log in through the auth manager's login page (simple auth manager: username + password)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}/auth/login?next={base_url}/")
    wait = WebDriverWait(driver, timeout)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=username]"))).send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda drv: any(c["name"] == "_token" for c in drv.get_cookies()))


def screenshot(driver: Any, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(target))
    return target


def wait_for_text(driver: Any, text: str, *, timeout: float = 60) -> None:
    """Wait until ``text`` is part of the page's visible text (the UI renders after loading)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def shows(drv: Any) -> bool:
        return text in drv.find_element("tag name", "body").text

    WebDriverWait(driver, timeout).until(shows, message=f"{text!r} never shown on {driver.current_url}")
