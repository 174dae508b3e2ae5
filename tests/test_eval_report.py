import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from constitutional.core.errors import ConstitutionalError
from constitutional.eval.metrics import load_metrics
from constitutional.eval.plot import frontier_points, nice_ticks
from constitutional.eval.report import write_report

from .eval_factory import make_metrics


@pytest.fixture
def report(tmp_path):
    metrics = make_metrics()
    return metrics, write_report(metrics, tmp_path / "out")


def test_writes_three_files_and_metrics_round_trip(report):
    metrics, paths = report
    assert set(paths) == {"json", "md", "html"} and all(p.is_file() for p in paths.values())
    assert load_metrics(paths["json"]) == json.loads(json.dumps(metrics))


def test_html_is_self_contained_with_plot_and_every_model(report):
    metrics, paths = report
    page = paths["html"].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page and "<script" not in page.lower()
    assert page.count("<svg") == 1 and "Harmlessness Elo" in page and "Helpfulness Elo" in page
    for label, model in metrics["models"].items():
        assert f">{label}<" in page and model["spec"] in page
    for section in ("By category", "Jailbreaks", "Over-refusal examples", "Harmful-prompt examples", "Judges"):
        assert f"<h2>{section}</h2>" in page


def test_untrusted_text_is_escaped(report):
    _, paths = report
    page, md = paths["html"].read_text(), paths["md"].read_text()
    assert "&lt;script&gt;document.location" in page
    assert "&lt;script&gt;document.location" in md and "<script" not in md


def test_headline_numbers_and_judge_notes(report):
    _, paths = report
    page, md = paths["html"].read_text(), paths["md"].read_text()
    # sft refuses 62% of 108 harmful prompts: Wilson [52.6, 70.6]; Elo from metrics["elo"] with [lo, hi]
    for text in (page, md):
        assert "62.0%" in text and "[52.6, 70.6]" in text and "1010" in text and "[980, 1040]" in text
        assert "refusal classifier, 91.0% acc." in text and "pairwise judge, 78.0% acc." in text
    assert "| sft | 62.0% [52.6, 70.6] |" in md
    assert "| cyber | 15.0% (partial 5.0%; n=27) |" in md


def test_frontier_falls_back_to_rates_without_elo(tmp_path):
    metrics = make_metrics(overrides={m: {"harmlessness_elo": None, "helpfulness_elo": None}
                                      for m in ("base", "sft", "rl")})
    points, x_title, y_title, elo = frontier_points(metrics)
    assert not elo and "over-refusal" in x_title and "refused" in y_title
    rl = points[-1]
    assert (rl.x, rl.y) == pytest.approx((92.0, 81.0))
    assert rl.x_ci[0] < 92.0 < rl.x_ci[1]  # flipped interval of the over-refusal rate
    page = write_report(metrics, tmp_path)["html"].read_text()
    assert "<svg" in page and "Harmful prompts refused" in page


def test_models_missing_suites_render_as_dashes(tmp_path):
    metrics = make_metrics(labels=("base", "sft"), overrides={"base": {"jailbreak_asr": None}})
    del metrics["models"]["sft"]["summary"]["latency_p95_s"]
    md = write_report(metrics, tmp_path)["md"].read_text()
    assert "| base | 20.0% [13.9, 28.9] | 2.0% [0.6, 7.0] | 10.0% [5.8, 17.3] | — |" in md


def test_write_report_refuses_a_dict_without_the_schema(tmp_path):
    with pytest.raises(ConstitutionalError, match="schema"):
        write_report({"models": {"a": {}}}, tmp_path)


def test_nice_ticks():
    assert nice_ticks(812, 1190) == [800, 900, 1000, 1100, 1200]
    assert nice_ticks(0.0, 1.0)[:3] == pytest.approx([0.0, 0.2, 0.4])


def find_chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_report_renders_in_a_real_browser(report, tmp_path):
    """Screenshot report.html at 1280 px with headless Chromium and check the
    page is not blank: at least 5% ink and a range of colours (tints, plot)."""
    from PIL import Image

    browser = find_chromium()
    if browser is None:
        if os.environ.get("CONSTITUTIONAL_REQUIRE_BROWSER") == "1":
            pytest.fail("no Chromium found (chromium, chromium-browser, google-chrome or $CHROMIUM), "
                        "and CONSTITUTIONAL_REQUIRE_BROWSER=1")
        pytest.skip("no Chromium found; set CHROMIUM or install chromium")
    _, paths = report
    png = tmp_path / "report.png"
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1280,2000", f"--screenshot={png}", paths["html"].resolve().as_uri()],
                   check=True, timeout=60, capture_output=True)
    image = Image.open(png).convert("RGB")
    assert image.size == (1280, 2000)
    pixels = np.asarray(image).reshape(-1, 3)
    ink = (pixels < 245).any(axis=1).mean()
    colours = len(np.unique(pixels[::7], axis=0))
    assert ink > 0.05, f"only {ink:.1%} of the page is not white"
    assert colours > 8, f"only {colours} distinct colours"
