"""Every Mermaid block in the report really renders (Debian chromium + mermaid from npm).

Install: apt-get install -y chromium; (mkdir -p .cache/mermaid && cd .cache/mermaid && npm install mermaid@11).
Skips only when chromium or the mermaid package is absent.
"""

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MERMAID = Path(os.environ.get("PMORTEM_MERMAID_JS", ROOT / ".cache/mermaid/node_modules/mermaid/dist/mermaid.min.js"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(not (CHROMIUM and MERMAID.exists()), reason="chromium or mermaid (npm) not installed")

PAGE = """<!doctype html><html><head><meta charset="utf-8"><script src="file://{js}"></script></head><body>
<pre class="mermaid">{code}</pre>
<script>
mermaid.initialize({{startOnLoad: false, securityLevel: "strict"}});
mermaid.run({{querySelector: ".mermaid"}}).then(() => {{ document.body.setAttribute("data-done", "ok"); }})
  .catch(e => {{ document.body.setAttribute("data-done", "error: " + e); }});
</script></body></html>"""


def render(code: str, tmp_path: Path) -> str:
    page = tmp_path / "m.html"
    page.write_text(PAGE.format(js=MERMAID, code=html.escape(code)))
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )
    return out.stdout


def test_report_mermaid_blocks_render(golden, tmp_path):
    blocks = re.findall(r"```mermaid\n(.*?)```", golden["md"], re.S)
    assert len(blocks) == 2
    for code in blocks:
        dom = render(code, tmp_path)
        assert 'data-done="ok"' in dom, dom[-2000:]
        assert "<svg" in dom and "Syntax error" not in dom
