"""The run's one constitution reaches every stage that reads principles, and
reruns trust inputs, not names: a changed input recomputes a stage (and, by
its outputs, what follows), an unchanged one is reused, and a checkpoint
retrained in place never gets its old samples back from the cache."""

import shutil
from pathlib import Path

from constitutional.core.config import FeedbackConfig, load_config
from constitutional.core.runs import RecordStore, RunDir
from constitutional.eval.judges import PairwiseJudge
from constitutional.models import SamplingParams
from constitutional.models.cached import cached_model
from constitutional.models.mock import MockScript, register_mock
from constitutional.stages import sl_cai
from constitutional.stages.artifacts import READS_CONSTITUTION, SL_CAI_SCHEMA, stage_inputs

SMALL = Path(__file__).parent / "data" / "small-constitution.yaml"


def _cfg(tmp_path, **over):
    return load_config(None, {"name": "t", "runs_dir": str(tmp_path), "model": "mock:lineage", "batch_size": 2,
                              "sl_cai.limit": 2, **over})


def test_the_run_constitution_is_what_every_stage_reads_unless_a_stage_overrides_it(tmp_path):
    cfg = _cfg(tmp_path, constitution=str(SMALL))
    assert {cfg.constitution_for(s) for s in ("sl_cai", "distill", "feedback", "eval")} == {str(SMALL)}
    assert _cfg(tmp_path, constitution=str(SMALL), **{"sl_cai.constitution": "broad"}).constitution_for("sl_cai") \
        == "broad"
    assert PairwiseJudge(None, FeedbackConfig(), str(SMALL)).constitution == str(SMALL)
    register_mock("lineage", MockScript(replies=["I can't help with that; it could hurt someone."]))
    sl_cai.main(cfg)
    records = list(RecordStore(cfg.run_dir / "sl_cai" / "records.jsonl", SL_CAI_SCHEMA))
    assert {r["constitution"] for r in records} == {"small-test"}
    assert {r["principle_ids"][0] for r in records} <= {"no-poisoning", "no-break-ins"}
    run = RunDir(cfg.run_dir)
    other = _cfg(tmp_path)  # the packaged default
    for stage in READS_CONSTITUTION:
        assert stage_inputs(cfg, run, stage)["constitution"] != stage_inputs(other, run, stage)["constitution"]


def test_begin_reuses_resumes_or_recomputes_by_inputs(tmp_path):
    run = RunDir(tmp_path / "r")
    assert run.begin("s", {"settings": "a"}) is None
    (run.stage_dir("s") / "out.jsonl").write_text("x\n")
    run.mark("s", "done", summary={"n": 1})
    assert run.begin("s", {"settings": "a"}) == {"n": 1}  # done, same inputs: reused
    out = run.outputs("s")
    assert run.begin("s", {"settings": "b"}) is None  # changed: cleared
    assert not (run.root / "s" / "out.jsonl").exists() and run.outputs("s") is None
    (run.stage_dir("s") / "out.jsonl").write_text("y\n")
    assert run.begin("s", {"settings": "b"}) is None  # running, same inputs: resumed, nothing cleared
    assert (run.root / "s" / "out.jsonl").read_text() == "y\n"
    run.mark("s", "done")
    assert run.outputs("s") != out  # the new outputs: what reads them sees the change


def test_a_checkpoint_retrained_in_place_gets_no_cached_samples(tmp_path, tiny_model_dir, tiny_model_dir_b):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir, ckpt)
    cfg = _cfg(tmp_path, dtype="float32", model=f"hf:{ckpt}")
    run = RunDir(cfg.run_dir)
    conv = [[{"role": "user", "content": "Say something about the weather."}]]
    params = SamplingParams(max_new_tokens=8, temperature=0.0)
    first = cached_model(cfg, run)
    old = first.generate(conv, params)
    assert cached_model(cfg, run).generate(conv, params) == old  # same weights: from the cache
    for f in tiny_model_dir_b.iterdir():  # "retrain": new weights under the same path
        shutil.copy(f, ckpt / f.name)
    again = cached_model(cfg, run)
    new = again.generate(conv, params)
    assert again.misses == 1 and again.identity != first.identity and new != old


def test_a_long_setting_text_is_not_mistaken_for_a_path(tmp_path):
    cfg = _cfg(tmp_path, **{"distill.answer_system": "Be helpful. " * 40})  # 480 characters, no slash
    assert "settings" in stage_inputs(cfg, RunDir(cfg.run_dir), "distill")
