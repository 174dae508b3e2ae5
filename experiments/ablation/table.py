"""Print the ablation table (docs/alignment-ablation.md) from the runs that
experiments/ablation/run.sh made: one markdown row per ablation row, read
from ``<runs_dir>/<run>/eval/metrics.json``.

    python experiments/ablation/table.py [--runs-dir runs]

A row whose run is missing prints "not run". Row 3 trains nothing: it reports
how many harmful prompts got a refusal in its distill records.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from constitutional.eval.metrics import fmt_with_interval, interval_of, load_metrics, summary_of

# (row, lever, run name, model label in that run's metrics.json); run names are run.sh's
ROWS = [
    ("0", "base model (default eval)", "row04-fixed-shape", "base"),
    ("1", "SL-CAI (critique + revision, 1 round) -> SFT", "row01-02-sl-cai", "sft"),
    ("2", "+ RL-CAI (AI-feedback pairs, preference model, RLOO)", "row01-02-sl-cai", "rl"),
    ("3", "context distillation, free answers under the constitution's context", "row03-free-answers", None),
    ("4", "context distillation, fixed refusal shape, best-of-2 -> SFT", "row04-fixed-shape", "sft"),
    ("5", "as 4, + 160 benign look-alike training prompts", "row05-lookalike-train", "sft"),
    ("6", "as 5, 64 instead of 96 harmful targets", "row06-64-harmful", "sft"),
    ("0 full", "base model (full suites)", "row06-full-suites", "base"),
    ("6 full", "row 6 on the full suites", "row06-full-suites", "sft"),
    ("7", "48 harmful targets (full suites)", "row07-48-harmful", "sft"),
    ("8", "row 6's SFT + DPO on classifier-graded pairs (full suites)", "row08-dpo-classifier-pairs", "dpo"),
    ("9", "row 6's SFT + DPO on the benign look-alike pairs only (full suites)", "row09-dpo-benign-pairs", "dpo"),
    ("10", "the demo with the old refusal shape (full suites)", "row10-instead-alternatives", "rl"),
    ("11", "the default demo (full suites, 32 Elo prompts)", "row11-demo", "rl"),
    ("12", "row 11's distill -> SFT with best-of-4 refusals (full suites)", "row12-best-of-4-refusals", "sft"),
]
COLUMNS = [("refusal_rate", "refusal (harmful)"), ("over_refusal_rate", "over-refusal (benign)"),
           ("jailbreak_asr", "jailbreak ASR"), ("helpfulness_elo", "helpfulness Elo"),
           ("alternative_rate", "offers an alternative")]


def distill_probe(run: Path) -> str:
    """Row 3: harmful prompts with a kept (classifier-approved) refusal among their candidates."""
    path = run / "distill" / "records.jsonl"
    if not path.is_file():
        return "not run"
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    harmful = [r for r in recs if r.get("kind") == "harmful"]
    refused = sum(r.get("chosen") is not None for r in harmful)
    samples = max((len(r.get("candidates") or []) for r in harmful), default=0)
    return f"not trained: {refused} of {len(harmful)} harmful prompts got a refusal in {samples} samples"


def row_cells(runs_dir: Path, run: str, label: str | None) -> list[str]:
    blank = [""] * (len(COLUMNS) - 1)
    if label is None:
        return [distill_probe(runs_dir / run), *blank]
    path = runs_dir / run / "eval" / "metrics.json"
    if not path.is_file():
        return ["not run", *blank]
    metrics = load_metrics(path)
    if label not in metrics["models"]:
        return [f"no model '{label}' in {path}", *blank]
    summary = summary_of(metrics, label)
    return [fmt_with_interval(m, summary.get(m), interval_of(metrics, label, m)) for m, _ in COLUMNS]


def table(runs_dir: Path) -> str:
    lines = ["| # | lever | run | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "---|" * (3 + len(COLUMNS))]
    for row, lever, run, label in ROWS:
        where = f"{run} ({label})" if label else run
        lines.append(f"| {row} | {lever} | {where} | " + " | ".join(row_cells(runs_dir, run, label)) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"), help="the runs directory (default: runs)")
    print(table(ap.parse_args().runs_dir))


if __name__ == "__main__":
    main()
