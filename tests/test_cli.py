"""The CLI as a user meets it: exit codes and messages, init, and a whole
`run` on the tiny model."""

import json

from typer.testing import CliRunner

from constitutional.cli import app

runner = CliRunner()


def test_constitution_commands():
    r = runner.invoke(app, ["constitution", "list"])
    assert r.exit_code == 0 and "cai-2022" in r.output and "broad" in r.output
    r = runner.invoke(app, ["constitution", "show", "custom-example"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["constitution", "validate", "cai-2022"])
    assert r.exit_code == 0 and "26" in r.output and "restricting principles" in r.output


def test_invalid_constitution_exits_2_with_file_line_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: constitutional.constitution/1\nname: x\nprinciples:\n  - id: a\n    source: custom\n")
    r = runner.invoke(app, ["constitution", "validate", str(bad)])
    assert r.exit_code == 2
    assert f"{bad}:4" in r.output and "principles.0.critique" in r.output and "Traceback" not in r.output


def test_init_writes_a_valid_config_and_constitution(tmp_path):
    from constitutional.core.config import load_config

    r = runner.invoke(app, ["init", str(tmp_path / "mine")], terminal_width=300)
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["constitution", "validate", str(tmp_path / "mine" / "constitution.yaml")]).exit_code == 0
    cfg = load_config(tmp_path / "mine" / "config.yaml")
    assert cfg.constitution == str(tmp_path / "mine" / "constitution.yaml")  # the run uses the file to edit
    assert cfg.name == "mine" and "constitutional run" in r.output  # a fresh run, not the demo's
    r = runner.invoke(app, ["init", str(tmp_path / "mine")])
    assert r.exit_code == 2 and "not overwriting" in r.output


def test_bad_override_and_missing_model_are_clear_errors(tmp_path):
    r = runner.invoke(app, ["sl-cai", "--sl_cai.rounds=zero"])
    assert r.exit_code == 2 and "--sl_cai.rounds" in r.output
    r = runner.invoke(app, ["sl-cai", f"--runs_dir={tmp_path}", f"--model=hf:{tmp_path / 'nope'}"])
    assert r.exit_code == 2 and "config.json is missing" in r.output


def test_run_chains_stages_on_the_tiny_model(tmp_path, tiny_model_dir):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""name: cli
runs_dir: {tmp_path}
model: hf:{tiny_model_dir}
dtype: float32
batch_size: 4
stages: [sl_cai, sft, before_after]
sl_cai: {{limit: 4, response_tokens: 8, critique_tokens: 8, revision_tokens: 8}}
sft: {{data: sl_cai, drop_flagged: false, epochs: 1, batch_size: 2, helpful_tokens: 8, max_length: 96}}
before_after: {{per_set: 2, max_new_tokens: 8}}
""")
    r = runner.invoke(app, ["run", str(cfg), "--sl_cai.rounds=2"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "cli"
    manifest = json.loads((run / "manifest.json").read_text())
    assert {k: v["status"] for k, v in manifest["stages"].items()} == {"sl_cai": "done", "sft": "done",
                                                                       "before_after": "done"}
    rows = [json.loads(line) for line in (run / "before_after" / "before_after.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["harmful", "harmful", "helpful", "helpful"]
    assert "rounds: 2" in (run / "config.yaml").read_text()
    assert str(run) in r.output.replace("\n", "")


def test_prompts_commands(tmp_path):
    r = runner.invoke(app, ["prompts", "list"])
    assert r.exit_code == 0 and "redteam" in r.output and "borderline" in r.output
    good = tmp_path / "p.jsonl"
    good.write_text('{"prompt": "hi", "split": "train"}\n{"prompt": "yo", "split": "eval"}\n')
    r = runner.invoke(app, ["prompts", "validate", str(good)])
    assert r.exit_code == 0 and "train" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prompt\na,hello\nb,\n")
    r = runner.invoke(app, ["prompts", "validate", str(bad)])
    assert r.exit_code == 2 and f"{bad}:3" in r.output and "'prompt'" in r.output


def test_stage_help_is_the_stage_docstring():
    from constitutional.cli import stage_help
    from constitutional.stages import sft

    assert stage_help("sft") == " ".join(sft.__doc__.split("\n\n")[0].split())
    r = runner.invoke(app, ["sft", "--help"], terminal_width=200)
    assert r.exit_code == 0 and "SFT on the run's training targets" in r.output


def test_the_default_pipeline_end_to_end(tmp_path, tiny_model_dir):
    """configs/demo.yaml with RL-CAI put back after sft, through `constitutional run`, on the tiny
    model with small limits: distill -> sft -> pairs -> feedback (AI labels) -> reward ->
    rl against the `preference_model` reward -> before_after -> eval with its report."""
    import yaml

    from constitutional.core.config import load_config

    stages = ["distill", "sft", "pairs", "feedback", "reward", "rl", "before_after", "eval"]
    demo = load_config("configs/demo.yaml", {"stages": stages})
    assert demo.rl.reward == "preference_model"
    small = [f"--stages=[{','.join(stages)}]", "--distill.limit=6", "--distill.refusal_share=0.5", "--distill.max_new_tokens=8",
             "--sft.epochs=1", "--sft.max_length=96", "--pairs.limit=4", "--pairs.helpful_limit=2",
             "--pairs.max_new_tokens=8", "--feedback.check_limit=4", "--reward.epochs=1", "--rl.steps=1",
             "--rl.num_generations=2", "--rl.max_new_tokens=8", "--rl.limit=2", "--before_after.per_set=1",
             "--before_after.max_new_tokens=8", "--eval.harmful_limit=2", "--eval.benign_limit=2",
             "--eval.helpful_limit=2", "--eval.jailbreak_behaviors=1", "--eval.max_new_tokens=8",
             "--eval.elo_prompts=1", "--eval.elo_bootstrap=10", "--eval.harm_check_limit=5",
             "--eval.judge_check_limit=2", "--eval.examples=1"]
    r = runner.invoke(app, ["run", "configs/demo.yaml", f"--runs_dir={tmp_path}", f"--model=hf:{tiny_model_dir}",
                            "--dtype=float32", "--batch_size=4", *small])
    assert r.exit_code == 0, r.output
    run = tmp_path / "demo"
    manifest = json.loads((run / "manifest.json").read_text())
    assert list(manifest["stages"]) == demo.stages and all(s["status"] == "done" for s in manifest["stages"].values())
    labels = [json.loads(line) for line in (run / "feedback" / "labels.jsonl").read_text().splitlines()]
    assert labels and all(r["label_source"] == "ai feedback" for r in labels)
    assert yaml.safe_load((run / "rl" / "config.yaml").read_text())["rl"]["reward"] == "preference_model"
    for stage in ("sft", "reward", "rl"):
        assert (run / stage / "model" / "config.json").is_file()
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert set(metrics["models"]) == {"base", "sft", "rl"}
    assert (run / "eval" / "report.html").is_file()
    # the same command again: every stage's inputs are unchanged, so every stage is reused
    again = runner.invoke(app, ["run", "configs/demo.yaml", f"--runs_dir={tmp_path}", f"--model=hf:{tiny_model_dir}",
                                "--dtype=float32", "--batch_size=4", *small])
    assert again.exit_code == 0, again.output
    assert all(f"{stage}: reused" in again.output for stage in demo.stages), again.output
    assert json.loads((run / "manifest.json").read_text())["stages"] == manifest["stages"]
