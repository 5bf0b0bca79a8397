"""``mscpk report``: the HTML page for three examples (IV mouse, intra-articular,
intramyocardial with study data and a fit) has every section, fetches nothing (no http(s)
resource; headless Chromium sees no console error and no failed request), prints to PDF;
bad inputs exit 2 with one line and no file."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mscpk.analysis.report import SECTION_KEYS
from mscpk.interfaces.cli import app
from mscpk.interfaces.report import pdf as pdf_module

ROOT = Path(__file__).resolve().parents[3]
EX = ROOT / "examples"
DATA = EX / "data" / "intramyocardial_mi_rat_qpcr.csv"
FIT = EX / "data" / "intramyocardial_mi_rat_fit.json"
CASES = {"iv_mouse": [str(EX / "iv_mouse.toml")],
         "intra_articular": [str(EX / "intra_articular_oa_mouse.toml")],
         "intramyocardial": [str(EX / "intramyocardial_mi_rat_luc.toml"), "--data", str(DATA), "--fit", str(FIT)]}
CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Each example's report, written once by the command line."""
    folder = tmp_path_factory.mktemp("reports")
    out = {}
    for name, args in CASES.items():
        path = folder / f"{name}.html"
        res = CliRunner().invoke(app, ["report", *args, "-o", str(path)])
        assert res.exit_code == 0, res.output
        assert f"wrote {path}" in res.stdout
        out[name] = path
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_section_is_on_the_page(pages, name):
    html = pages[name].read_text(encoding="utf-8")
    expected = [k for k in SECTION_KEYS if k not in ("nca", "fit") or name == "intramyocardial"]
    found = re.findall(r'<section id="([a-z_]+)"', html)
    assert found == expected
    for key in expected:
        assert f'<a href="#{key}">' in html  # in the contents


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_page_fetches_nothing(pages, name):
    html = pages[name].read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources, "the figures are missing"
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_print_css_breaks_pages(pages):
    html = pages["iv_mouse"].read_text(encoding="utf-8")
    assert "@media print" in html and "break-before: page" in html and "@page" in html


def test_scenario_text_is_escaped_on_the_page(pages):
    html = pages["intramyocardial"].read_text(encoding="utf-8")
    assert 'name = &#34;luciferase rMSC intramyocardial in rat MI&#34;' in html


@needs_chromium
def test_headless_chromium_sees_no_console_error_and_no_failed_request(pages):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            for name, path in pages.items():
                page = browser.new_page()
                console, failed, requests = [], [], []
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
                page.on("requestfailed", lambda r: failed.append(r.url))
                page.on("request", lambda r: requests.append(r.url))
                page.goto(path.as_uri(), wait_until="load")
                assert [c for c in console if c.startswith(("error", "pageerror"))] == [], name
                assert failed == [], name
                assert all(u == path.as_uri() or u.startswith("data:") for u in requests), (name, requests)
                images = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
                assert images and all(images), f"{name}: an image did not decode"
                page.close()
        finally:
            browser.close()


@needs_chromium
@pytest.mark.slow
def test_pdf_through_headless_chromium(tmp_path):
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    res = CliRunner().invoke(app, ["report", str(EX / "iv_mouse.toml"), "-o", str(html), "--pdf", str(pdf)])
    assert res.exit_code == 0, res.output
    head = pdf.read_bytes()
    assert head.startswith(b"%PDF") and head.count(b"/Type /Page") + head.count(b"/Type/Page") > len(SECTION_KEYS)


def test_pdf_without_chromium_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf_module, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setattr(pdf_module.shutil, "which", lambda name: None)
    res = CliRunner().invoke(app, ["report", str(EX / "iv_mouse.toml"), "-o", str(tmp_path / "r.html"),
                                   "--pdf", str(tmp_path / "r.pdf")])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --pdf needs headless Chromium") and len(res.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _bad_fit(tmp: Path) -> str:
    (tmp / "in" / "fit.json").write_text('{"parameters": {}}')
    return str(tmp / "in" / "fit.json")


@pytest.mark.parametrize("args, message", [
    (lambda t: [str(EX / "iv_mouse.toml"), "-o", str(t / "out" / "r.txt")], "unsupported file type '.txt'"),
    (lambda t: [str(t / "in" / "none.toml"), "-o", str(t / "out" / "r.html")], "does not exist"),
    (lambda t: [str(EX / "iv_mouse.toml"), "-o", str(t / "out" / "missing" / "r.html")], "does not exist"),
    (lambda t: [str(EX / "iv_mouse.toml"), "-o", str(t / "out")], "unsupported file type"),
    (lambda t: [str(EX / "iv_mouse.toml"), "--fit", _bad_fit(t), "-o", str(t / "out" / "r.html")],
     "missing entry 'objective'"),
    (lambda t: [str(EX / "iv_mouse.toml"), "--fit", str(EX / "iv_mouse.toml"), "-o", str(t / "out" / "r.html")],
     "not valid JSON"),
    (lambda t: [str(EX / "iv_mouse.toml"), "--data", str(t / "in" / "none.csv"), "-o", str(t / "out" / "r.html")],
     "study data file"),
    (lambda t: [str(EX / "iv_mouse.toml"), "--data", str(EX / "iv_mouse.toml"), "-o", str(t / "out" / "r.html")],
     "use .csv or .xlsx"),
    (lambda t: [str(EX / "iv_mouse.toml"), "-o", str(t / "out" / "r.html"), "--pdf", str(t / "out" / "r.html")],
     "unsupported file type '.html'"),
    (lambda t: [str(EX / "iv_mouse.toml"), "-o", str(t / "out" / "r.html"), "--pdf", str(t / "out" / "r.ps")],
     "unsupported file type '.ps'"),
])
def test_bad_inputs_exit_2_with_one_line_and_no_file(tmp_path, args, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    res = CliRunner().invoke(app, ["report", *args(tmp_path)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    assert list((tmp_path / "out").iterdir()) == []
