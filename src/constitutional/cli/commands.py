"""The pipeline's commands: run, one per stage, compare, judge-check, calibrate, gate, serve, doctor, init,
and the constitution and prompts groups."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import time
from pathlib import Path

import typer

from constitutional.cli.common import EXTRA, _config, _option, app, friendly
from constitutional.core.config import CalibrateConfig, commented_yaml, load_config
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console, summary, table

constitution_app = typer.Typer(no_args_is_help=True, help="List, show and validate constitutions.")
app.add_typer(constitution_app, name="constitution")
prompts_app = typer.Typer(no_args_is_help=True, help="List and validate prompt sets.")
app.add_typer(prompts_app, name="prompts")

def _run_stage(stage: str, config: Path | None, args: list[str]) -> dict:
    from constitutional.stages.artifacts import preflight

    cfg = _config(config, args)
    preflight(cfg, [stage])
    return importlib.import_module(f"constitutional.stages.{stage}").main(cfg)


@app.command(context_settings=EXTRA)
@friendly
def run(ctx: typer.Context, config: Path | None = typer.Argument(None, help="YAML config (default: the demo)")):
    """Run the stages listed in the config's `stages`, in order."""
    from constitutional.stages.artifacts import preflight

    cfg = _config(config, ctx.args)
    preflight(cfg, cfg.stages)
    t0, rows = time.time(), []
    for stage in cfg.stages:
        console.rule(f"[bold]{stage}")
        s0 = time.time()
        importlib.import_module(f"constitutional.stages.{stage}").main(cfg)
        rows.append((stage, f"{time.time() - s0:.0f}s"))
    console.rule()
    table(f"run '{cfg.name}' finished in {time.time() - t0:.0f}s", ["stage", "time"], rows)
    console.print(f"run directory: [bold]{cfg.run_dir}[/]")


# command -> stage module; each command's help is its module's docstring, so it cannot drift
STAGE_COMMANDS = {"sl-cai": "sl_cai", "distill": "distill", "sft": "sft", "pairs": "pairs", "feedback": "feedback",
                  "reward": "reward", "rbr": "rbr", "rl": "rl", "safe-rlhf": "safe_rlhf", "dpo": "dpo",
                  "generate": "generate", "before-after": "before_after",
                  "eval": "eval"}


def stage_help(stage: str) -> str:
    """The first paragraph of a stage module's docstring, read without importing it (no torch at --help)."""
    spec = importlib.util.find_spec(f"constitutional.stages.{stage}")
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _stage_command(command: str, stage: str, help_text: str) -> None:
    @app.command(command, help=help_text, context_settings=EXTRA)
    @friendly
    def _cmd(ctx: typer.Context, config: Path | None = typer.Argument(None, help="YAML config")):
        _run_stage(stage, config, ctx.args)


for _command, _stage in STAGE_COMMANDS.items():
    _stage_command(_command, _stage, stage_help(_stage))


@app.command("compare", context_settings=EXTRA)
@friendly
def compare(ctx: typer.Context, config: Path | None = typer.Argument(None, help="YAML config (default: the demo)")):
    """Train Constitutional AI, RLHF, rule-based rewards, DPO, Safe RLHF and Self-Critique from one config,
    evaluate them together and write the table of methods (runs/NAME/compare/methods.md)."""
    from constitutional.compare.run import main

    main(_config(config, ctx.args))


@app.command("judge-check", context_settings=EXTRA)
@friendly
def judge_check_cmd(ctx: typer.Context, model: str = typer.Argument(..., help="feedback model spec"),
                    config: Path | None = typer.Option(None, help="YAML config (its feedback section applies)"),
                    out: Path | None = typer.Option(None, help="also write the full report as JSON here")):
    """Measure a feedback model on the packaged labeled pairs: accuracy, position bias, calibration."""
    import json

    from constitutional.core.runs import CallCache
    from constitutional.core.ui import progress
    from constitutional.feedback.check import CHECK_COLUMNS, check_calls, check_rows, judge_check
    from constitutional.models import load_generator
    from constitutional.models.cached import CachedGenerator

    cfg = load_config(config, ctx.args)
    clf = None
    if cfg.feedback.judge == "constitution":
        from constitutional.decision import classifier_for

        clf = classifier_for(cfg.constitution_for("feedback"), cfg.decision.threshold, cfg.decision.c)
    gen = CachedGenerator(load_generator(model, dtype=cfg.dtype, batch_size=cfg.batch_size,
                                         trust_remote_code=cfg.trust_remote_code), CallCache(Path(":memory:")),
                          chunk=cfg.batch_size)
    t0 = time.time()
    with progress("judge check", check_calls(cfg.feedback, cfg.feedback.check_limit)) as advance:
        check = judge_check(gen, cfg.feedback, cfg.constitution, cfg.seed, cfg.feedback.check_limit, advance,
                            clf)
    check["seconds"] = round(time.time() - t0, 1)
    table(f"judge check: {check['judge']} on {check['labeled_set']} ({check['seconds']}s)", CHECK_COLUMNS, check_rows(check))
    if out:
        out.write_text(json.dumps(check, indent=2), encoding="utf-8")
        console.print(f"wrote {out}")


@app.command()
@friendly
def calibrate(
    model: list[str] = typer.Option(..., "--model", help="model spec, or LABEL=SPEC; repeat for each model or endpoint"),
    prompts: str = typer.Option(..., help="your harmful prompts (.jsonl/.json/.csv/.parquet)"),
    benign: str | None = typer.Option(None, help="benign prompts for the false-refusal rate (default: the "
                                         "packaged look-alike set)"),
    out: Path = typer.Option(Path("calibration"), help="output directory"),
    limit: int | None = typer.Option(None, min=1, help="at most this many prompts from each file"),
    max_new_tokens: int = _option(CalibrateConfig, "max_new_tokens", min=8),
    concurrency: int = _option(CalibrateConfig, "concurrency", min=1),
    batch_size: int = _option(CalibrateConfig, "batch_size", min=1),
    dtype: str = _option(CalibrateConfig, "dtype"),
    seed: int = _option(CalibrateConfig, "seed"),
):
    """Compare models or endpoints on your own prompts: refusal rate, false refusals, latency, refusal tone.

    Writes calibration.csv (one row per model) and report.html / report.md / metrics.json to --out.
    """
    from constitutional.eval.calibrate import calibrate as run_calibration

    run_calibration(model, prompts, out, benign, limit, max_new_tokens, concurrency, batch_size, dtype, seed)


@app.command()
@friendly
def gate(baseline: Path = typer.Argument(..., help="baseline metrics.json"),
         new: Path = typer.Argument(..., help="new metrics.json"),
         thresholds: Path | None = typer.Option(None, help="gate YAML (default: the packaged gate-default.yaml)"),
         baseline_model: str | None = typer.Option(None, help="the baseline's model label (with --new-model: compare "
                                                   "two different labels)"),
         new_model: str | None = typer.Option(None, help="the new file's model label")):
    """Regression gate for CI: exit 1 if NEW regressed against BASELINE beyond the thresholds, 0 if not; 2 if a
    file is unreadable, corrupt or compares different models."""
    from constitutional.eval.gate import gate_main

    raise typer.Exit(gate_main(baseline, new, thresholds, baseline_model, new_model))


@app.command()
@friendly
def serve(model: str = typer.Option("smollm2-135m", help="local model spec (smollm2-135m or hf:/path)"),
          host: str = typer.Option("127.0.0.1", help="bind address"), port: int = typer.Option(8000, help="port"),
          dtype: str = typer.Option("auto", help="auto, float32 or bfloat16")):
    """Serve a local model on an OpenAI-compatible API (/v1/chat/completions)."""
    import uvicorn

    from constitutional.models import load_generator, parse_spec
    from constitutional.models.serve import create_app

    if parse_spec(model)[0] == "openai":
        raise ConstitutionalError("serve needs a local model, not an endpoint", field="--model",
                                  hint="use smollm2-135m or hf:/path/to/checkpoint")
    console.print(f"serving {model} at http://{host}:{port}/v1 (model name: {model})")
    uvicorn.run(create_app(load_generator(model, dtype=dtype), model), host=host, port=port)


@app.command()
@friendly
def doctor(run_dir: Path = typer.Argument(..., help="a run directory, e.g. runs/demo")):
    """Move unreadable lines of a run's record files aside (to FILE.quarantine), and a corrupt manifest or call
    cache; then the run resumes."""
    from constitutional.core.runs import doctor as fix

    if not run_dir.is_dir():
        raise ConstitutionalError("not a run directory", file=run_dir, hint="pass runs/<name>")
    fixes = fix(run_dir)
    if not fixes:
        summary(f"{run_dir}: nothing to fix", {"record files": len(list(run_dir.rglob("*.jsonl")))})
        return
    table(f"{run_dir}: moved aside", ["file", "lines moved", "which lines", "note"],
          [(f["file"], f["moved"], ", ".join(map(str, f["lines"][:10])), f.get("note", "")) for f in fixes])


@app.command()
@friendly
def init(directory: Path = typer.Argument(Path("."), help="where to write config.yaml and constitution.yaml")):
    """Write a starter config (every setting, with its help) and a constitution to edit; the config's run
    uses that constitution."""
    from constitutional.constitution import resolve

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    constitution = directory / "constitution.yaml"
    config = commented_yaml().replace("\nconstitution: cai-2022\n", f"\nconstitution: {constitution}\n", 1)
    config = config.replace("name: demo\n", f"name: {directory.resolve().name or 'my-run'}\n", 1)
    files = (("config.yaml", config + "\n"), ("constitution.yaml", resolve("cai-2022").read_text(encoding="utf-8")))
    for name, _ in files:  # check every path before writing any: no half-written directory
        if (directory / name).exists():
            raise ConstitutionalError("already exists; not overwriting", file=directory / name,
                                      hint="move it or pick another directory")
    for name, text in files:
        (directory / name).write_text(text, encoding="utf-8")
        written.append(str(directory / name))
    console.print("wrote " + ", ".join(written))
    console.print(f"next: edit {constitution} (what is declined: a principle's restricts, concern, help, examples; "
                  f"`constitutional constitution check {constitution}` measures the decision), then "
                  f"`constitutional run {directory / 'config.yaml'}`")


@constitution_app.command("list")
@friendly
def constitution_list():
    """The packaged constitutions."""
    from constitutional.constitution import load_constitution, packaged_names

    rows = []
    for name in packaged_names():
        c = load_constitution(name)
        rows.append((name, len(c.principles), ", ".join(f"{k} {v}" for k, v in c.sources().items()), c.description))
    table("packaged constitutions", ["name", "principles", "sources", "description"], rows)


@constitution_app.command("show")
@friendly
def constitution_show(name: str = typer.Argument(..., help="packaged name or path")):
    """Every principle of a constitution."""
    from constitutional.constitution import load_constitution

    c = load_constitution(name)
    table(f"{c.name}: {c.description}", ["id", "source", "critique", "revision", "comparison"],
          [(p.id, p.source, p.critique, p.revision, p.comparison) for p in c.principles], show_lines=True)


@constitution_app.command("validate")
@friendly
def constitution_validate(path: str = typer.Argument(..., help="packaged name or path to a YAML file")):
    """Check a constitution file; prints the first problem with its line."""
    from constitutional.constitution import load_constitution

    c = load_constitution(path)
    summary(f"{path} is valid", {"name": c.name, "principles": len(c.principles),
                                 "restricting principles": len(c.restricting), **c.sources()})


@constitution_app.command("check", context_settings=EXTRA)
@friendly
def constitution_check(ctx: typer.Context, name: str = typer.Argument(..., help="packaged name or path"),
                       config: Path | None = typer.Option(None, help="YAML config (its decision section applies)")):
    """Measure the classifier derived from a constitution on held-out labeled prompts, and show its decisions."""
    from constitutional.decision import classifier_for
    from constitutional.decision.check import COLUMNS, check, check_rows

    d = load_config(config, ctx.args).decision
    clf = classifier_for(name, d.threshold, d.c)
    report = check(clf, d.restricted_sets, d.permitted_sets)
    table(f"{report['classifier']}: accuracy {report['accuracy']:.1%}, balanced {report['balanced_accuracy']:.1%}",
          COLUMNS, check_rows(report))


def _prompt_counts(records) -> dict:
    out: dict[str, int] = {}
    for r in records:
        key = r.split or "(no split)"
        out[key] = out.get(key, 0) + 1
    return out


@prompts_app.command("list")
@friendly
def prompts_list():
    """The packaged prompt sets, with split sizes and categories."""
    from constitutional.prompts import PACKAGED, load_prompts

    rows = []
    for name in PACKAGED:
        recs = load_prompts(name)
        cats = sorted({r.category for r in recs})
        rows.append((name, len(recs), ", ".join(f"{k} {v}" for k, v in _prompt_counts(recs).items()), ", ".join(cats)))
    table("packaged prompt sets", ["name", "records", "splits", "categories"], rows)


@prompts_app.command("validate")
@friendly
def prompts_validate(path: str = typer.Argument(..., help="packaged name or a .jsonl/.json/.csv/.parquet/datasets path")):
    """Check a prompt file; prints the first problem with its line and field."""
    from constitutional.prompts import load_prompts

    recs = load_prompts(path)
    summary(f"{path} is valid", {"records": len(recs), **_prompt_counts(recs)})
