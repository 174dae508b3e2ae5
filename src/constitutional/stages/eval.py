"""Evaluation: every model answers the held-out suites; judges with measured
accuracy turn the answers into the report (``<run>/eval/report.html``,
``report.md``, ``metrics.json``).

1. Models: ``eval.models``, or the run's base model plus whichever of its
   ``sft``, ``rl`` and ``dpo`` models exist.
2. Greedy answers to every suite (``eval/suites.py``), timed and kept in
   ``responses.jsonl``; a killed or repeated eval generates only what is missing.
3. Judges: the refusal classifier on every answer; the harm scorer (a model
   grading 0-4) on harmful and jailbreak answers; the pairwise judge on a
   sample of harmful and helpful prompts for every pair of models, giving
   harmlessness and helpfulness Elo. Each judge is measured on a packaged
   labeled set first, and the report prints that accuracy beside its figures.
   Judge calls go through the run's call cache, so reruns are free.

Defaults are sized for two 135M models on 2 CPU cores in roughly five to six
minutes: per model 114 answers of up to 96 tokens (30 harmful, 16 helpful,
32 benign, 3 requests x 12 jailbreak templates), 66 harm grades; then 40
harm-label checks, 48 pairwise and 48 judge-check scorings. That is an
estimate from the README's measured speeds (~0.7 s per 96-token answer,
~1.1 judge scorings/s), not a measurement. Raise the limits for tighter
intervals: with 30 prompts a refusal rate's interval is about +-17 points.
"""

from __future__ import annotations

from constitutional.core.config import EvalModel, RunConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import RecordStore, RunDir
from constitutional.core.ui import console, progress, summary, table
from constitutional.eval.answers import SCHEMA, answer_suites
from constitutional.eval.assemble import build_metrics, judged_rows, refusal_judge
from constitutional.eval.judges import HarmScorer, PairwiseJudge, default_classifier, judge_entry
from constitutional.eval.metrics import METRICS, fmt_value
from constitutional.eval.pairwise import elo_pairs, elo_ratings
from constitutional.eval.report import write_report
from constitutional.eval.scoring import HARMFUL_KINDS
from constitutional.eval.suites import default_suites
from constitutional.feedback.check import check_calls
from constitutional.labeled import load_labeled
from constitutional.models import SamplingParams
from constitutional.models.cached import cached_model, run_generator
from constitutional.stages.artifacts import POLICY_STAGES, begin_stage, has_model, model_dir

SUMMARY_COLUMNS = ["refusal_rate", "over_refusal_rate", "jailbreak_asr", "harm_score", "harmlessness_elo",
                   "helpfulness_elo", "latency_p50_s", "tokens_per_response"]


def eval_models(cfg: RunConfig, run: RunDir) -> list[EvalModel]:
    """``eval.models``, else ``base`` (the run's model) and each trained model of this run."""
    if cfg.eval.models is not None:
        models = list(cfg.eval.models)
    else:
        models = [EvalModel(label="base", spec=cfg.model)]
        models += [EvalModel(label=s, spec=f"hf:{model_dir(run, s)}") for s in POLICY_STAGES if has_model(run, s)]
    labels = [m.label for m in models]
    if not models or len(set(labels)) != len(labels):
        raise ConstitutionalError("eval.models needs at least one model and unique labels", field="eval.models",
                                  hint=f"got labels {labels}")
    return models


def judge_spec(cfg: RunConfig) -> str:
    return cfg.eval.judge or cfg.feedback.model or cfg.model


def harm_scores(cfg: RunConfig, run: RunDir, records: list[dict], judges: list[dict]) -> dict:
    """Grade every harmful and jailbreak answer; measure the grader; append its judge row."""
    scorer, spec = HarmScorer(cached_model(cfg, run, judge_spec(cfg))), judge_spec(cfg)
    todo = [r for r in records if r["kind"] in HARMFUL_KINDS]
    with progress("harm scores", len(todo)) as advance:
        scores = scorer.scores([r["request"] for r in todo], [r["response"] for r in todo], advance)
    n_check = len(load_labeled("harm_labels")[: cfg.eval.harm_check_limit])
    with progress("harm scorer check", n_check) as advance:
        check = scorer.measure(cfg.eval.harm_check_limit, advance)
    judges.append(judge_entry(scorer.name, f"{spec} (P of 0-4 after a rubric)", check["accuracy"], check["n"],
                              check["labeled_set"], within_1=round(check["within_1"], 4), mae=round(check["mae"], 4)))
    return {(r["model"], r["suite"], r["prompt_id"]): s for r, s in zip(todo, scores)}


def elo(cfg: RunConfig, run: RunDir, answers: dict[str, list[dict]], suites, judges: list[dict]) -> dict:
    """Pairwise judgments across all models -> Elo per kind; measure the judge; append its judge row."""
    spec = judge_spec(cfg)
    judge = PairwiseJudge(cached_model(cfg, run, spec), cfg.feedback, cfg.constitution, cfg.seed)
    by_kind: dict[str, list] = {}
    for s in suites:
        if s.name in ("harmful", "helpful"):  # the packaged suites; user suites stay out of the ratings
            by_kind.setdefault(s.kind, []).extend((s.name, p.id) for p in s.prompts)
    index = {m: {(r["suite"], r["prompt_id"]): r for r in recs} for m, recs in answers.items()}
    pairs = elo_pairs(index, by_kind, cfg.eval.elo_prompts)
    with progress("pairwise judgments", judge.calls(len(pairs))) as advance:
        ratings = elo_ratings(judge, pairs, list(answers), cfg.eval.elo_bootstrap, cfg.seed, advance)
    with progress("pairwise judge check", check_calls(cfg.feedback, cfg.eval.judge_check_limit)) as advance:
        check = judge.measure(cfg.eval.judge_check_limit, advance)
    judges.append(judge_entry(judge.name, f"{spec} (both orders)", check["accuracy"], check["n"],
                              check["labeled_set"], position_bias=check["position_bias"]))
    return ratings


def main(cfg: RunConfig) -> dict:
    e = cfg.eval
    run, done = begin_stage(cfg, "eval")
    if done is not None:
        return done
    out = run.stage_dir("eval")
    run.mark("eval", "running")
    models = eval_models(cfg, run)
    suites = default_suites(e, cfg.seed)
    n_prompts = sum(len(s.prompts) for s in suites)
    console.print(f"[bold]eval[/]: {len(models)} models x {n_prompts} prompts ("
                  + ", ".join(f"{s.name} {len(s.prompts)}" for s in suites) + ")")
    params = SamplingParams(max_new_tokens=e.max_new_tokens, temperature=0.0, seed=cfg.seed)
    store = RecordStore(out / "responses.jsonl", SCHEMA)
    answers, generated = {}, 0
    for m in models:
        with progress(f"answers: {m.label}", n_prompts) as advance:
            answers[m.label], new = answer_suites(m.label, run_generator(cfg, m.spec), suites, params, store,
                                                  cfg.batch_size, cfg.concurrency, advance)
        generated += new
    records = [r for recs in answers.values() for r in recs]
    classifier = default_classifier()
    judges = [refusal_judge(classifier)]
    harms = harm_scores(cfg, run, records, judges) if e.harm_scores else {}
    ratings = elo(cfg, run, answers, suites, judges) if len(models) > 1 and e.elo_prompts else {}
    rows = {label: judged_rows(recs, classifier, harms) for label, recs in answers.items()}
    metrics = build_metrics(cfg.name, {m.label: m.spec for m in models}, rows, records, judges, ratings, e.examples)
    paths = write_report(metrics, out)
    table("Evaluation (each judge's accuracy is in the report)", ["model"] + [METRICS[k].title for k in SUMMARY_COLUMNS],
          [[label] + [fmt_value(k, metrics["models"][label]["summary"].get(k)) for k in SUMMARY_COLUMNS]
           for label in metrics["models"]])
    result = {"models": ", ".join(m.label for m in models), "answers generated": generated,
              "answers from records": len(records) - generated,
              **{f"{j['name']} accuracy": fmt_value("accuracy_rate", j["accuracy"]) for j in judges},
              "report": str(paths["html"]), "metrics": str(paths["json"])}
    run.mark("eval", "done", summary=result)
    summary("Eval summary", result)
    return result
