"""A report printed to PDF by headless Chromium (Debian's ``chromium`` package)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from mscpk.analysis.report import ReportError
from mscpk.analysis.report.settings import PDF_TIMEOUT_S

#: Where Debian installs Chromium; else ``chromium`` on the PATH.
CHROMIUM = "/usr/bin/chromium"
#: Headless printing with nothing fetched and nothing kept (a throw-away profile is added).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-extensions", "--no-first-run", "--no-pdf-header-footer",
                  "--disable-sync", "--metrics-recording-only")


def chromium() -> str:
    """The Chromium executable, or :class:`ReportError` saying how to get one."""
    exe = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if exe is None:
        raise ReportError(f"--pdf needs headless Chromium: not found at {CHROMIUM} nor on the PATH (Debian: "
                          "apt-get install chromium); the HTML report needs no browser")
    return exe


def html_to_pdf(html: str, pdf: Path) -> None:
    """Print ``html`` to the file ``pdf`` (A4, the report's print CSS)."""
    exe = chromium()
    with tempfile.TemporaryDirectory(prefix="mscpk-pdf-") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", f"--print-to-pdf={out}",
               page.as_uri()]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=PDF_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not print the PDF within {PDF_TIMEOUT_S:g} s") from None
        if not out.is_file() or not out.read_bytes().startswith(b"%PDF"):
            last = (run.stderr.strip().splitlines() or ["no message"])[-1]
            raise ReportError(f"Chromium could not print the PDF (exit status {run.returncode}: {last})")
        shutil.copyfile(out, pdf)


__all__ = ["html_to_pdf", "chromium", "CHROMIUM"]
