"""Calibration for buyers: several models or endpoints against your own prompts.

``constitutional calibrate --model A --model B --prompts mine.jsonl`` answers
your harmful prompts and a benign set (your ``--benign`` file, or the packaged
look-alike prompts) with every model, and compares per model: refusal rate,
false-refusal rate on the benign prompts, latency, and refusal tone (length,
apologies, whether a safe alternative is offered). Out come a console table,
``calibration.csv`` (one row per model) and the same report as ``eval``.

Only the refusal classifier judges here (no judge model to choose or pay
for); its measured accuracy is printed beside the rates. Answers are kept in
``<out>/responses.jsonl``, so an interrupted calibration resumes.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import RecordStore
from constitutional.eval.answers import SCHEMA, answer_suites
from constitutional.eval.assemble import build_metrics, judged_rows, refusal_judge
from constitutional.eval.judges import default_classifier
from constitutional.eval.metrics import fmt_value
from constitutional.eval.report import write_report
from constitutional.eval.suites import EVAL_SPLIT, Suite, balanced
from constitutional.models import SamplingParams, load_generator, parse_spec
from constitutional.prompts import PACKAGED, load_prompts

DEFAULT_BENIGN = "lookalike"
CSV_COLUMNS = ["refusal_rate", "partial_refusal_rate", "over_refusal_rate", "latency_p50_s", "latency_p95_s",
               "tokens_per_response", "refusal_words", "alternative_rate", "apology_rate"]
CSV_TITLES = {"over_refusal_rate": "false_refusal_rate"}  # the buyer's word for it
TABLE_COLUMNS = ["refusal_rate", "over_refusal_rate", "latency_p50_s", "latency_p95_s", "tokens_per_response",
                 "refusal_words", "alternative_rate", "apology_rate"]
_LABEL = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")


def model_labels(args: list[str]) -> dict[str, str]:
    """``["fast=openai:http://h:1/v1#a", "hf:runs/x/sft/model"] -> {"fast": ..., "sft": ...}``.

    ``LABEL=SPEC`` names a model; otherwise the label is the endpoint's model
    name or the checkpoint's folder (its parent's, for a folder called
    ``model``), with ``-2``, ``-3`` added to repeats.
    """
    out: dict[str, str] = {}
    for arg in args:
        m = _LABEL.match(arg)
        label, spec = (m.group(1), m.group(2)) if m and ":" not in m.group(1) else (None, arg)
        backend, location, name = parse_spec(spec)
        if label is None:
            path = Path(location)
            label = (name if backend == "openai" and name != "default" else
                     location.split("//")[-1].split("/")[0] if backend == "openai" else
                     name if backend == "embedded" else path.parent.name if path.name == "model" else path.name)
        base, k = label, 2
        while label in out:
            label, k = f"{base}-{k}", k + 1
        out[label] = spec
    if not out:
        raise ConstitutionalError("no models to calibrate", field="--model", hint="pass --model SPEC at least once")
    return out


def calibration_suites(prompts: str, benign: str | None, limit: int | None, seed: int) -> list[Suite]:
    harmful = load_prompts(prompts)  # the user's file: every record, whatever its split
    benign = benign or DEFAULT_BENIGN
    benign_records = load_prompts(benign, EVAL_SPLIT if benign in PACKAGED else None)
    return [Suite("harmful", "harmful", balanced(harmful, limit, seed, "harmful")),
            Suite("benign", "benign", balanced(benign_records, limit, seed, "benign"))]


def write_csv(metrics: dict, path: Path) -> None:
    """One row per model: n, each rate with its interval, latency, tokens, refusal tone."""
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        head = ["model", "spec", "harmful_prompts", "benign_prompts"]
        for c in CSV_COLUMNS:
            t = CSV_TITLES.get(c, c)
            head += [t, f"{t}_lo", f"{t}_hi"] if c.endswith("_rate") else [t]
        w.writerow(head)
        for label, m in metrics["models"].items():
            row = [label, m["spec"], m["n"].get("harmful", 0), m["n"].get("benign", 0)]
            for c in CSV_COLUMNS:
                v, ci = m["summary"].get(c), m["intervals"].get(c) or [None, None]
                row += [_num(v), _num(ci[0]), _num(ci[1])] if c.endswith("_rate") else [_num(v)]
            w.writerow(row)


def _num(v) -> str:
    return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def calibrate(models: list[str], prompts: str, out: Path, benign: str | None = None, limit: int | None = None,
              max_new_tokens: int = 96, concurrency: int = 4, batch_size: int = 8, dtype: str = "auto",
              seed: int = 0) -> dict:
    """Answer, judge and report; returns the metrics dict (also written to ``out``)."""
    from constitutional.core.ui import console, progress, table

    specs = model_labels(models)
    suites = calibration_suites(prompts, benign, limit, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = RecordStore(out / "responses.jsonl", SCHEMA)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    n = sum(len(s.prompts) for s in suites)
    answers = {}
    for label, spec in specs.items():
        gen = load_generator(spec, dtype=dtype, batch_size=batch_size,
                             **({"concurrency": concurrency} if spec.startswith("openai:") else {}))
        with progress(f"answers: {label}", n) as advance:
            answers[label], _ = answer_suites(label, gen, suites, params, store, batch_size, concurrency, advance)
    classifier = default_classifier()
    judges = [refusal_judge(classifier)]
    rows = {label: judged_rows(recs, classifier) for label, recs in answers.items()}
    records = [r for recs in answers.values() for r in recs]
    note = f"Calibration: harmful prompts from {prompts}, benign prompts from {benign or DEFAULT_BENIGN}."
    metrics = build_metrics(f"calibration ({prompts})", specs, rows, records, judges, notes=[note])
    paths = write_report(metrics, out)
    write_csv(metrics, out / "calibration.csv")
    acc = fmt_value("accuracy_rate", judges[0]["accuracy"])
    table(f"Calibration: {len(suites[0].prompts)} harmful, {len(suites[1].prompts)} benign prompts "
          f"(refusals judged by the refusal classifier, {acc} accurate on its test set)",
          ["model"] + [CSV_TITLES.get(c, c) for c in TABLE_COLUMNS],
          [[label] + [fmt_value(c, metrics["models"][label]["summary"].get(c)) for c in TABLE_COLUMNS]
           for label in metrics["models"]])
    console.print(f"wrote {out / 'calibration.csv'}, {paths['html']}, {paths['md']}, {paths['json']}")
    return metrics
