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
    assert r.exit_code == 0 and "16" in r.output


def test_invalid_constitution_exits_2_with_file_line_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: constitutional.constitution/1\nname: x\nprinciples:\n  - id: a\n    source: custom\n")
    r = runner.invoke(app, ["constitution", "validate", str(bad)])
    assert r.exit_code == 2
    assert f"{bad}:4" in r.output and "principles.0.critique" in r.output and "Traceback" not in r.output


def test_init_writes_a_valid_config_and_constitution(tmp_path):
    r = runner.invoke(app, ["init", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["constitution", "validate", str(tmp_path / "constitution.yaml")]).exit_code == 0
    r = runner.invoke(app, ["init", str(tmp_path)])
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
stages: [sl_cai, sft, compare]
sl_cai: {{limit: 4, response_tokens: 8, critique_tokens: 8, revision_tokens: 8}}
sft: {{data: sl_cai, drop_flagged: false, epochs: 1, batch_size: 2, helpful_tokens: 8, max_length: 96}}
compare: {{per_set: 2, max_new_tokens: 8}}
""")
    r = runner.invoke(app, ["run", str(cfg), "--sl_cai.rounds=2"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "cli"
    manifest = json.loads((run / "manifest.json").read_text())
    assert {k: v["status"] for k, v in manifest["stages"].items()} == {"sl_cai": "done", "sft": "done",
                                                                       "compare": "done"}
    rows = [json.loads(line) for line in (run / "compare" / "compare.jsonl").read_text().splitlines()]
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
