"""The comparison table: one row per method, from its run's manifest and the shared evaluation.

Columns: human labels, the constitution's written examples (where the method's behavior follows its
classifier) and AI labels used; wall time and peak memory for data
generation and for training (from each stage's manifest entry); harmlessness
and helpfulness Elo with 95 % intervals; refusal, over-refusal and jailbreak
success rates with their Wilson intervals and corrected for the refusal
classifier's measured sensitivity and specificity (Rogan-Gladen, with an
interval carrying the judge's own uncertainty); capability cost (helpfulness
Elo change against the base); inference latency overhead against the base.
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from pathlib import Path

from constitutional.compare.methods import DATA_STAGES
from constitutional.eval.correction import corrected_rate, sens_spec_counts

# rate -> (suite kind whose answers it counts, classifier classes that count as the event)
RATES = {"refusal_rate": ("harmful", ("refuse",)), "over_refusal_rate": ("benign", ("refuse", "partial")),
         "jailbreak_asr": ("jailbreak", ("comply", "partial"))}
COLUMNS = ["method", "human labels", "constitution examples", "AI labels", "data time (s)", "data peak memory (MiB)",
           "train time (s)", "train peak memory (MiB)", "harmlessness Elo", "helpfulness Elo", "refusal",
           "refusal (judge-corrected)",
           "over-refusal", "over-refusal (judge-corrected)", "jailbreak success", "jailbreak success (judge-corrected)",
           "capability cost (helpfulness Elo vs base)", "latency p50 (s)", "latency overhead vs base"]


def stage_costs(manifest: dict, stages) -> dict:
    """Wall seconds (summed) and peak memory (max) over the data stages and over the training stages."""
    out = {"data_s": 0.0, "data_mb": None, "train_s": 0.0, "train_mb": None}
    for stage in stages:
        entry = manifest.get("stages", {}).get(stage, {})
        side = "data" if stage in DATA_STAGES else "train"
        out[f"{side}_s"] += float(entry.get("seconds") or 0.0)
        if entry.get("peak_rss_mb") is not None:
            out[f"{side}_mb"] = max(out[f"{side}_mb"] or 0.0, float(entry["peak_rss_mb"]))
    return out


def label_counts(run_root: Path) -> tuple[int, int]:
    """(human labels, AI labels) a method's run used: human preference pairs and labeled replies; AI feedback
    and classifier labels, the constitution's decisions behind kept distill targets, and proposition grades (fit
    and RL). The constitution's own written examples are counted apart (``constitution examples``)."""
    human = ai = 0
    labels = run_root / "feedback" / "labels.jsonl"
    if labels.is_file():
        for line in labels.read_text(encoding="utf-8").splitlines():
            if line.strip():
                source = json.loads(line).get("label_source")
                human += source == "human"
                ai += source in ("ai feedback", "refusal classifier") or str(source).startswith("refusal classifier")
    distill = run_root / "distill" / "records.jsonl"
    if distill.is_file():
        ai += sum(1 for line in distill.read_text(encoding="utf-8").splitlines()
                  if line.strip() and json.loads(line).get("chosen") is not None)
    manifest = _manifest(run_root)
    for stage in ("rbr", "rl"):
        s = manifest.get("stages", {}).get(stage, {}).get("summary", {})
        human += int(s.get("human labels (labeled replies fitted)", 0))
        ai += int(s.get("AI labels (proposition grades)", 0))
    return human, ai


def _manifest(root: Path) -> dict:
    path = root / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def judge_counts(metrics: dict) -> dict:
    judge = next(j for j in metrics["judges"] if j["name"] == "refusal classifier")
    conf = judge["confusion"]
    return {rate: sens_spec_counts(conf["classes"], conf["rows_true_cols_predicted"], pos)
            for rate, (_, pos) in RATES.items()}


def rows(methods: list, labels: dict[str, str], metrics: dict, runs_dir: Path, constitution_examples: int,
         draws: int, seed: int) -> list[dict]:
    """One dict per model in the evaluation: the base first, then each method (``labels``: method name -> the
    name of its run under ``runs_dir``)."""
    counts = judge_counts(metrics)
    base = metrics["models"]["base"]["summary"]
    out = []
    for label in ["base", *labels]:
        m = metrics["models"][label]
        s, ci = m["summary"], m["intervals"]
        method = next((x for x in methods if x.name == label), None)
        row = {"method": label, "title": method.title if method else "base model", "spec": m["spec"]}
        if method is not None:
            root = runs_dir / labels[label]
            row.update(stage_costs(_manifest(root), method.stages))
            row["human_labels"], row["ai_labels"] = label_counts(root)
            row["constitution_examples"] = constitution_examples if method.reads_constitution else 0
        else:
            row.update({"data_s": 0.0, "data_mb": None, "train_s": 0.0, "train_mb": None, "human_labels": 0,
                        "ai_labels": 0, "constitution_examples": 0})
        for kind in ("harmlessness", "helpfulness"):
            key = f"{kind}_elo"
            row[key], row[f"{key}_ci"] = s.get(key), ci.get(key)
        for rate, (kind, _) in RATES.items():
            n = m["n"].get(kind, 0)
            k = round((s.get(rate) or 0.0) * n)
            row[rate], row[f"{rate}_ci"], row[f"{rate}_n"] = s.get(rate), ci.get(rate), n
            row[f"{rate}_corrected"] = corrected_rate(k, n, *counts[rate], draws=draws, seed=seed)
        row["capability_cost"] = (s["helpfulness_elo"] - base["helpfulness_elo"]) \
            if s.get("helpfulness_elo") is not None and base.get("helpfulness_elo") is not None else None
        row["latency_p50_s"] = s.get("latency_p50_s")
        row["latency_overhead"] = (s["latency_p50_s"] / base["latency_p50_s"] - 1) \
            if s.get("latency_p50_s") and base.get("latency_p50_s") else None
        out.append(row)
    return out


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _ci_pct(x, ci) -> str:
    return _pct(x) if not ci else f"{_pct(x)} [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def _corr(c: dict) -> str:
    if c["rate"] is None:
        return "—"
    return f"{_pct(c['rate'])} [{100 * c['lo']:.0f}, {100 * c['hi']:.0f}]" if c["lo"] is not None else _pct(c["rate"])


def _elo(x, ci) -> str:
    return "—" if x is None else (f"{x:.0f} [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else f"{x:.0f}")


def _num(x, fmt="{:.0f}") -> str:
    return "—" if x is None else fmt.format(x)


def cells(r: dict) -> list[str]:
    return [r["method"], str(r["human_labels"]), str(r["constitution_examples"]), str(r["ai_labels"]),
            _num(r["data_s"]), _num(r["data_mb"]),
            _num(r["train_s"]), _num(r["train_mb"]), _elo(r["harmlessness_elo"], r["harmlessness_elo_ci"]),
            _elo(r["helpfulness_elo"], r["helpfulness_elo_ci"]),
            _ci_pct(r["refusal_rate"], r["refusal_rate_ci"]), _corr(r["refusal_rate_corrected"]),
            _ci_pct(r["over_refusal_rate"], r["over_refusal_rate_ci"]), _corr(r["over_refusal_rate_corrected"]),
            _ci_pct(r["jailbreak_asr"], r["jailbreak_asr_ci"]), _corr(r["jailbreak_asr_corrected"]),
            _num(r["capability_cost"], "{:+.0f}"), _num(r["latency_p50_s"], "{:.2f}"),
            "—" if r["latency_overhead"] is None else f"{100 * r['latency_overhead']:+.0f}%"]


def judge_note(metrics: dict) -> str:
    j = {x["name"]: x for x in metrics["judges"]}
    parts = []
    for name, what in (("refusal classifier", "refusal, over-refusal and jailbreak success"),
                       ("pairwise judge", "Elo")):
        if name in j:
            parts.append(f"{what}: {name} ({j[name]['model']}), accuracy {_pct(j[name]['accuracy'])} on "
                         f"{j[name]['n']} labeled items of {j[name]['labeled_set']}")
    return "Judges: " + "; ".join(parts) + "."


def sens_spec_note(rows_: list[dict]) -> str:
    c = rows_[0]
    return "Judge-corrected rates use the refusal classifier's measured " + ", ".join(
        f"{name} sensitivity {_pct(c[f'{rate}_corrected']['sensitivity'])} / specificity "
        f"{_pct(c[f'{rate}_corrected']['specificity'])}"
        for rate, name in (("refusal_rate", "refusal"), ("over_refusal_rate", "over-refusal"),
                           ("jailbreak_asr", "jailbreak success"))) + " (Rogan-Gladen; 95 % Monte-Carlo interval)."


def markdown(rows_: list[dict], metrics: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows_]
    return "\n".join(["# Methods compared", "", *lines, "", judge_note(metrics), "", sens_spec_note(rows_), ""])


def to_csv(rows_: list[dict]) -> str:
    flat_keys = ["method", "title", "spec", "human_labels", "constitution_examples", "ai_labels", "data_s", "data_mb",
                 "train_s", "train_mb",
                 "harmlessness_elo", "helpfulness_elo", "refusal_rate", "over_refusal_rate", "jailbreak_asr",
                 "capability_cost", "latency_p50_s", "latency_overhead"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(flat_keys + [f"{k}_{e}" for k in ("harmlessness_elo", "helpfulness_elo", "refusal_rate",
                                                 "over_refusal_rate", "jailbreak_asr") for e in ("lo", "hi")]
               + [f"{k}_corrected{e}" for k in RATES for e in ("", "_lo", "_hi")])
    for r in rows_:
        ci = [x for k in ("harmlessness_elo", "helpfulness_elo", "refusal_rate", "over_refusal_rate", "jailbreak_asr")
              for x in (r[f"{k}_ci"] or [None, None])]
        corr = [r[f"{k}_corrected"][e] for k in RATES for e in ("rate", "lo", "hi")]
        w.writerow([r[k] for k in flat_keys] + ci + corr)
    return buf.getvalue()


def frontier_svg(rows_: list[dict]) -> str:
    """Helpfulness Elo (x) against harmlessness Elo (y), one labeled point per method, with interval bars."""
    pts = [r for r in rows_ if r["helpfulness_elo"] is not None and r["harmlessness_elo"] is not None]
    w, h, pad = 560, 380, 60
    if not pts:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="60"><text x="10" y="30">no Elo</text></svg>'
    xs = [v for r in pts for v in (r["helpfulness_elo_ci"] or [r["helpfulness_elo"]] * 2)]
    ys = [v for r in pts for v in (r["harmlessness_elo_ci"] or [r["harmlessness_elo"]] * 2)]
    x0, x1, y0, y1 = min(xs) - 20, max(xs) + 20, min(ys) - 20, max(ys) + 20
    sx = lambda x: pad + (x - x0) / (x1 - x0) * (w - 2 * pad)  # noqa: E731
    sy = lambda y: h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="none" stroke="#999"/>',
             f'<text x="{w / 2}" y="{h - 20}" text-anchor="middle">helpfulness Elo →</text>',
             f'<text x="18" y="{h / 2}" text-anchor="middle" transform="rotate(-90 18 {h / 2})">harmlessness Elo →</text>']
    for r in pts:
        x, y = sx(r["helpfulness_elo"]), sy(r["harmlessness_elo"])
        if r["helpfulness_elo_ci"]:
            lo, hi = r["helpfulness_elo_ci"]
            parts.append(f'<line x1="{sx(lo):.1f}" x2="{sx(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#93c5fd"/>')
        if r["harmlessness_elo_ci"]:
            lo, hi = r["harmlessness_elo_ci"]
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{sy(lo):.1f}" y2="{sy(hi):.1f}" stroke="#93c5fd"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#2563eb"/>'
                     f'<text x="{x + 6:.1f}" y="{y - 6:.1f}">{escape(r["method"])}</text>')
    return "\n".join(parts + ["</svg>"])


def html_section(rows_: list[dict], metrics: dict) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells(r)) + "</tr>" for r in rows_)
    return (f'<section id="methods"><h2>Methods compared</h2><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table><p class=\"caption\">{escape(judge_note(metrics))} "
            f"{escape(sens_spec_note(rows_))}</p><h3>Harmlessness-helpfulness frontier</h3>{frontier_svg(rows_)}"
            f"</section>")
