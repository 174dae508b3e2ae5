"""``constitutional compare CONFIG``: train the six methods from one config, evaluate them together, and write
the table (``<runs_dir>/<name>/compare/``: ``methods.md``, ``methods.csv``, ``methods.json``,
``frontier.svg``, and a "Methods compared" section in the evaluation's ``report.html``).

Each method is its own run, ``<runs_dir>/<name>-<method>``, and each of its stages runs as its own
``constitutional <stage>`` process: a stage's manifest entry then records its own wall time and peak memory,
and a killed comparison resumes where it stopped (finished stages are reused, as in any run). The evaluation
is the ``eval`` stage of the run ``<name>`` with the base model and every method's model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from constitutional.compare.methods import Method, methods, refine_spec
from constitutional.compare.table import COLUMNS, cells, frontier_svg, html_section, markdown, rows, to_csv
from constitutional.constitution import load_constitution
from constitutional.core.config import EvalModel, RunConfig, dump_config
from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import RunDir
from constitutional.core.ui import console, summary, table
from constitutional.decision.classifier import training_data
from constitutional.stages.artifacts import final_model, preflight


def run_stage(stage: str, config: Path, isolate: bool) -> None:
    """One stage, in a fresh process with its output streamed (``isolate``) or in this one; a failure names the
    command to rerun."""
    if not isolate:
        import importlib

        from constitutional.core.config import load_config

        cfg = load_config(config)
        preflight(cfg, [stage])
        importlib.import_module(f"constitutional.stages.{stage}").main(cfg)
        return
    cmd = [sys.executable, "-m", "constitutional", stage.replace("_", "-"), str(config)]
    if subprocess.run(cmd).returncode != 0:
        raise ConstitutionalError(f"stage {stage} failed", file=config,
                                  hint=f"see its output above; fix it and rerun `{' '.join(cmd[2:])}`, or rerun "
                                  "the comparison: finished stages are reused")


def method_model(cfg: RunConfig, method: Method) -> str:
    if method.name == "self_critique":
        return refine_spec(cfg)
    spec = final_model(RunDir(method.config(cfg).run_dir))
    if spec is None:
        raise ConstitutionalError(f"method {method.name} left no model", file=method.config(cfg).run_dir,
                                  hint="its training stages did not finish; rerun the comparison")
    return spec


def main(cfg: RunConfig) -> dict:
    out = cfg.run_dir / "compare"
    out.mkdir(parents=True, exist_ok=True)
    chosen = methods(cfg)
    configs = {}
    for m in chosen:  # check everything every method will read before any of them trains
        mcfg = m.config(cfg)
        preflight(mcfg, mcfg.stages)
        configs[m.name] = out / "configs" / f"{m.name}.yaml"
        configs[m.name].parent.mkdir(parents=True, exist_ok=True)
        configs[m.name].write_text(dump_config(mcfg), encoding="utf-8")
    t0 = time.time()
    for m in chosen:
        console.rule(f"[bold]{m.title}[/] ({m.name}): {' -> '.join(m.stages) or 'no training'}")
        for stage in m.stages:
            run_stage(stage, configs[m.name], cfg.compare.isolate)
    order = [m for name in cfg.compare.methods for m in chosen if m.name == name]
    models = [EvalModel(label="base", spec=cfg.model)] + [EvalModel(label=m.name, spec=method_model(cfg, m))
                                                          for m in order]
    eval_cfg = RunConfig.model_validate({**cfg.model_dump(mode="json"), "stages": ["eval"],
                                         "eval": {**cfg.eval.model_dump(mode="json"),
                                                  "models": [x.model_dump() for x in models]}})
    eval_path = out / "configs" / "eval.yaml"
    eval_path.write_text(dump_config(eval_cfg), encoding="utf-8")
    console.rule("[bold]evaluation of every method")
    run_stage("eval", eval_path, cfg.compare.isolate)
    metrics = json.loads((cfg.run_dir / "eval" / "metrics.json").read_text(encoding="utf-8"))
    examples = len(training_data(load_constitution(cfg.constitution))[0])
    table_rows = rows(order, {m.name: m.run_name(cfg) for m in order}, metrics, cfg.run_dir.parent, examples,
                      cfg.compare.draws, cfg.seed)
    (out / "methods.md").write_text(markdown(table_rows, metrics), encoding="utf-8")
    (out / "methods.csv").write_text(to_csv(table_rows), encoding="utf-8")
    (out / "methods.json").write_text(json.dumps({"rows": table_rows, "judges": metrics["judges"]}, indent=2,
                                                 default=str), encoding="utf-8")
    (out / "frontier.svg").write_text(frontier_svg(table_rows), encoding="utf-8")
    report = cfg.run_dir / "eval" / "report.html"
    if report.is_file():
        html = report.read_text(encoding="utf-8")
        html = html.split('<section id="methods">')[0].replace("</main></body></html>", "").rstrip()
        report.write_text(html + "\n" + html_section(table_rows, metrics) + "\n</main></body></html>\n",
                          encoding="utf-8")
    shown = [0, 1, 3, 8, 9, 10, 12, 14, 16, 18]  # method, labels, Elo, rates (as measured), cost, latency
    table("Methods compared (the full table, judge-corrected rates included: methods.md)",
          [COLUMNS[i] for i in shown], [[c[i] for i in shown] for c in map(cells, table_rows)])
    result = {"methods": ", ".join(m.name for m in order), "seconds": round(time.time() - t0, 1),
              "table": str(out / "methods.md"), "csv": str(out / "methods.csv"), "report": str(report)}
    summary("compare summary", result)
    return result
