"""End to end in Debian's headless Chromium (Playwright) against ``mscpk serve`` on a free
loopback port with a temporary SQLite store and one worker process: log in, load an example,
simulate, see the figure and the summary, download the CSV (equal to ``mscpk simulate``'s);
upload a study and run NCA; a second user cannot see the first user's run. Screenshots of the
main pages go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[4]
ARTIFACTS = ROOT / "tests" / "artifacts"
EXAMPLE = ROOT / "examples" / "iv_mouse.toml"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
STUDY = "ID,TIME,DV,SITE\n" + "".join(f"m{i},{t},{v},blood\n" for i, (t, v) in
                                      enumerate([(1, 800.0), (2, 610.0), (4, 400.0), (8, 160.0), (24, 20.0)], 1)) + "m9,48,,blood\n"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory, bench_web):
    """``mscpk serve`` with one worker process; its base URL (users alice and bob exist)."""
    folder = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{folder / 'web.db'}"
    bench_web.make_users(url, ["alice"], "alice-pw-1")
    bench_web.make_users(url, ["bob"], "bob-pw-2")
    with bench_web.serve(url, 1, folder / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def login(browser, base: str, name: str, password: str):
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_url(f"{base}/builder")
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_simulate_study_and_privacy_in_chromium(server, browser, tmp_path):
    page = login(browser, server, "alice", "alice-pw-1")
    shot(page, "builder")
    page.select_option("#example", "iv_mouse")
    page.click("#load-example")
    page.wait_for_load_state()
    assert page.input_value('[data-field="subject.species"]') == "mouse"
    page.click("#simulate")
    page.wait_for_url(f"{server}/runs/*")
    run_url = page.url
    page.wait_for_selector('#timecourses[data-ready="true"]', timeout=60_000)  # done, figures drawn
    assert page.locator("#timecourses .main-svg").count() > 0 and page.locator("#heatmap .main-svg").count() > 0
    # titles and axis labels drawn (Plotly 3 ignores a plain-string title: it must be {text: ...})
    assert "Cells per site" in page.locator("#timecourses .gtitle").text_content()
    assert page.locator("#timecourses .ytitle").text_content() == "cells [cell equivalents]"
    assert page.locator("#heatmap .xtitle").text_content() == "time [h]"
    summary = page.locator("#table-summary")
    assert summary.is_visible() and "lung" in summary.inner_text()
    png = page.request.get(f"{run_url.replace('/runs/', '/api/runs/')}/files/figure.png")
    assert png.ok and png.body()[:8] == b"\x89PNG\r\n\x1a\n"  # the static figure with body maps
    shot(page, "results")
    with page.expect_download() as dl:
        page.click("#download-csv")
    got = tmp_path / "web.csv"
    dl.value.save_as(got)
    cli = tmp_path / "cli.csv"
    subprocess.run([sys.executable, "-m", "mscpk.interfaces.cli", "simulate", str(EXAMPLE), "-o", str(cli)],
                   check=True, capture_output=True)
    assert got.read_bytes() == cli.read_bytes()

    data = tmp_path / "study.csv"
    data.write_text(STUDY)
    page.goto(f"{server}/study")
    page.set_input_files("#study-file", str(data))
    page.click("#upload-study")
    page.wait_for_selector("#table-excluded\\ rows")
    assert "1 rows" in page.inner_text("#table-excluded\\ rows")
    shot(page, "study")
    page.click("#run-nca")
    page.wait_for_selector("#table-nca", timeout=60_000)
    assert "CMAX" in page.inner_text("#table-nca")
    shot(page, "nca")
    page.goto(f"{server}/runs")
    shot(page, "history")

    other = login(browser, server, "bob", "bob-pw-2")
    response = other.goto(run_url)
    assert response.status == 404 and "not found" in other.inner_text("#error-message")
    other.goto(f"{server}/runs")
    assert other.locator("#runs a").count() == 0
    shot(other, "second_user")
