"""report.html as a reader sees it: rendered by headless Chromium (Debian's ``chromium-headless-shell`` or
``chromium``; skipped when neither is installed). Issue 25: the matrix was shown at 59% of its pixel width, and an
empty figure was embedded.

A probe script, appended to a copy of the page, measures after the load event and writes JSON into the DOM, which
``--dump-dom`` prints: the matrix table's rendered width against its natural (max-content) width, its smallest
label font, and for each <img> its natural size and the share of coloured pixels (an empty matplotlib plot is
black, grey and white only)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.report import write_report

SMALL = Path(__file__).parent / "fixtures/compare/summary_small.json"
BROWSER = next((b for b in ("chromium-headless-shell", "chromium", "chromium-browser") if shutil.which(b)), None)

PROBE = """<pre id="probe"></pre><script>
window.addEventListener('load', () => {
  const t = document.querySelector('table.matrix');
  const clone = t.cloneNode(true), box = document.createElement('div');
  box.style.cssText = 'position:absolute;left:0;top:0;width:max-content;visibility:hidden';
  box.appendChild(clone); document.body.appendChild(box);
  const fonts = [...t.querySelectorAll('th, td')].map(e => parseFloat(getComputedStyle(e).fontSize));
  const imgs = [...document.querySelectorAll('img')].map(img => {
    const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
    let coloured = 0, n = 0;
    if (c.width && c.height) {
      const g = c.getContext('2d'); g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data; n = d.length / 4;
      for (let i = 0; i < d.length; i += 4) {
        if (Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]) > 40) coloured++;
      }
    }
    return {caption: img.closest('figure').querySelector('figcaption').textContent,
            natural_w: img.naturalWidth, natural_h: img.naturalHeight,
            rendered_w: img.getBoundingClientRect().width, coloured: n ? coloured / n : 0};
  });
  document.getElementById('probe').textContent = JSON.stringify({
    table_w: t.getBoundingClientRect().width, natural_w: clone.getBoundingClientRect().width,
    min_font_px: Math.min(...fonts), imgs});
});
</script>"""


def render(page: Path, width_px: int = 1280) -> dict:
    """The probe's measurements of ``page`` in a ``width_px``-wide headless window."""
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    out = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width_px},1000",
                          "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=30)
    found = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert found and found.group(1), f"no probe output: {out.stderr[-500:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _ten_platforms(summary: dict) -> dict:
    """The fixture's simulated platforms copied under the nine simulated presets' names (plus its CPU): a matrix as
    wide as the default compare's (LeNet-5's rendered at 76% of its width in a 1100 px page before)."""
    names = ["tpu_like", "eyeriss_like", "eie_like", "sigma_like", "scnn_like", "nm_asic", "fpga_small",
             "fpga_large", "fpga_sparse"]
    sim = [p for p in dict.fromkeys(r["platform"] for r in summary["rows"]) if not p.startswith("cpu")]
    copy = {n: sim[i % len(sim)] for i, n in enumerate(names)}
    rows = [{**r, "platform": n} for n, src in copy.items() for r in summary["rows"] if r["platform"] == src]
    verdicts = [{**v, "platform": n} for n, src in copy.items() for v in summary["verdicts"] if v["platform"] == src]
    cpu = [r for r in summary["rows"] if r["platform"].startswith("cpu")]
    # row labels as long as with 10,000 test images
    structures = {k: {**v, "test": {**v["test"], "n": 10000}} for k, v in summary["structures"].items()}
    return {**summary, "structures": structures, "baseline_test": {**summary["baseline_test"], "n": 10000},
            "rows": rows + cpu, "verdicts": verdicts + [v for v in summary["verdicts"]
                                                                  if v["platform"].startswith("cpu")]}


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium (apt-get install chromium-headless-shell)")
@pytest.mark.parametrize("cpu,wide", [(True, False), (False, False), (True, True)], ids=["with-cpu", "no-cpu", "wide"])
def test_the_rendered_report_shows_the_matrix_at_full_width_and_no_empty_figure(tmp_path, cpu, wide):
    summary = json.loads(SMALL.read_text())
    if wide:
        summary = _ten_platforms(summary)
    if not cpu:   # as with --no-cpu: no measured rows
        summary["rows"] = [r for r in summary["rows"] if r["kind"] not in ("cpu", "gpu")]
        summary["verdicts"] = [v for v in summary["verdicts"] if v["kind"] not in ("cpu", "gpu")]
        summary["breakeven"].pop("cpu_sweep", None)
    write_report(tmp_path, summary, log=lambda s: None)
    seen = render(tmp_path / "report.html")
    assert seen["table_w"] >= 0.9 * seen["natural_w"], seen           # the matrix is not scaled down
    assert seen["table_w"] <= 1280, seen                               # and fits a 1280 px window
    assert seen["min_font_px"] >= 11, seen                             # its labels are readable
    assert seen["imgs"], seen
    for img in seen["imgs"]:
        assert img["natural_w"] > 0 and img["natural_h"] > 0, img      # every figure decodes
        assert img["coloured"] > 0.001, img                            # and shows data, not empty axes
