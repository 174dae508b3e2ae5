"""Bad input gets a ConstitutionalError naming the file (or the command line), the line and the field, never a
raw traceback, a silent acceptance or a blow-up: the findings of a 257-input probe, one test each, and property
tests that throw arbitrary bytes and mutations at every loader."""

import json
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constitutional.constitution import load_constitution, resolve
from constitutional.core.config import load_config
from constitutional.core.errors import ConstitutionalError
from constitutional.eval.gate import check_gate, load_gate
from constitutional.eval.metrics import load_metrics
from constitutional.guard.policy import load_policy, packaged_policy
from constitutional.prompts import load_preferences, load_prompts

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def _fails(fn, path, *words, line=True):
    with pytest.raises(ConstitutionalError) as e:
        fn(path)
    text = e.value.render()
    assert str(path) in text and all(w in text for w in words), text
    assert not line or e.value.line is not None, text
    return e.value


@pytest.mark.parametrize("loader", [load_constitution, lambda p: load_config(p), load_policy, load_gate])
def test_an_alias_bomb_is_refused_at_once_in_every_yaml_file(tmp_path, loader):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB, encoding="utf-8")
    tracemalloc.start()
    t0 = time.perf_counter()
    _fails(loader, path, "aliases are not supported")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t0 < 2 and peak < 50e6


def test_duplicate_keys_merge_keys_deep_nesting_and_huge_files_are_refused(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: a\nseed: 1\nname: b\n", encoding="utf-8")
    assert _fails(load_config, dup, "duplicate key 'name'").line == 3
    merge = tmp_path / "merge.yaml"
    merge.write_text("sft: {epochs: 1}\nrl:\n  <<: {steps: 2}\n", encoding="utf-8")
    _fails(load_config, merge, "merge keys")
    deep = tmp_path / "deep.yaml"
    deep.write_text("x: " + "[" * 500 + "]" * 500 + "\n", encoding="utf-8")
    _fails(load_config, deep, "nested deeper", line=False)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * 5_000_000)
    t0 = time.perf_counter()
    _fails(load_constitution, big, "at most", line=False)
    assert time.perf_counter() - t0 < 1


@pytest.mark.parametrize("data", ["name: caf\xe9\n".encode("latin-1"), "name: x\n".encode("utf-16"), b"\x00\xff" * 50])
def test_non_utf8_yaml_names_the_line(tmp_path, data):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    _fails(load_constitution, path, "not UTF-8")


@pytest.mark.parametrize(("name", "data", "words"), [
    ("unclosed.csv", 'id,prompt\n1,"hello\n2,world\n', "unclosed quote"),
    ("extra.csv", "id,prompt\n1,a,b\n", "number of fields"),
    ("latin1.jsonl", '{"prompt": "caf\xe9"}\n'.encode("latin-1"), "not UTF-8"),
    ("syntax.json", '[{"prompt": "a"},\n {"prompt": }]', "not valid JSON"),
    ("nonobj.json", '[{"prompt": "a"}, 3]', "element 1 is not an object"),
    ("msgstr.jsonl", json.dumps({"messages": "not json"}) + "\n", "not a JSON conversation"),
    ("role.jsonl", json.dumps({"messages": [{"role": "hacker", "content": "x"}]}) + "\n", "role 'hacker'"),
    ("dict.jsonl", json.dumps({"messages": [{"role": "user", "content": {"a": 1}}]}) + "\n", "content must be text"),
    ("empty.jsonl", json.dumps({"messages": [{"role": "user", "content": " "}]}) + "\n", "user turn is empty"),
    ("deep.json", "[" * 100000 + "]" * 100000, "nested too deeply"),
    ("fake.parquet", b"PAR1 not really parquet", "not a readable Parquet file"),
])
def test_malformed_prompt_files_name_the_problem(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    _fails(load_prompts, path, words, line=name.endswith((".jsonl", ".csv")) or name == "syntax.json")


def test_csv_line_numbers_count_file_lines_not_rows(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,prompt\n1,"two\nlines"\n2,"bad\n', encoding="utf-8")
    assert _fails(load_prompts, path, "unclosed").line == 4


@pytest.mark.parametrize(("args", "field", "words"), [
    (["--name=../../etc"], "--name", "pattern"), (["--name="], "--name", "pattern"),
    (["--sl_cai.temperature=.inf"], "--sl_cai.temperature", "finite"), (["--seed=-100000000000000000000000"], "--seed", ""),
    (["--batch_size=true"], "--batch_size", "true/false"), (["--dtype=float128"], "--dtype", "float32"),
    (["--sft.epochs=1e308"], "--sft.epochs", "1000"), (["--nosection.key=1"], "--nosection.key", "unknown"),
    (["--sft..epochs=3"], "--sft..epochs", "not a setting name"), (["--sft.epochs=[1,2"], "--sft.epochs", "YAML"),
    (["--x=!!python/object:os.system"], "--x", "YAML"),
])
def test_bad_settings_are_refused_and_blamed_on_the_command_line(args, field, words):
    with pytest.raises(ConstitutionalError) as e:
        load_config(None, args)
    assert e.value.file == "command line" and e.value.field == field and words in e.value.render()


def _metrics(tmp_path, name: str, label: str, value) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"schema": "constitutional.metrics/1", "models": {label: {"summary": {
        "refusal_rate": value, "over_refusal_rate": 0.1}}}}).replace('"INF"', "Infinity"), encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["INF", 1e309, 60, -0.1, True])
def test_gate_refuses_corrupt_metrics(tmp_path, value):
    path = _metrics(tmp_path, "m.json", "sft", value)
    with pytest.raises(ConstitutionalError) as e:
        load_metrics(path)
    assert e.value.field == "models.sft.summary.refusal_rate"


def test_gate_refuses_different_model_labels_unless_mapped(tmp_path):
    base = load_metrics(_metrics(tmp_path, "a.json", "sft", 0.8))
    new = load_metrics(_metrics(tmp_path, "b.json", "rl", 0.7))
    rules = [{"metric": "refusal_rate", "max_drop": 5}]
    with pytest.raises(ConstitutionalError, match="--baseline-model=sft --new-model=rl"):
        check_gate(base, new, rules)
    assert not check_gate(base, new, rules, baseline_model="sft", new_model="rl").passed  # 10 points > 5


def test_constitution_gaps(tmp_path, monkeypatch):
    good = yaml.safe_load(resolve("custom-example").read_text(encoding="utf-8"))
    for name, data, words in [
        ("five.yaml", {**good, "principles": 5}, "must be a list"),
        ("hello.yaml", {**good, "principles": "hello"}, "must be a list"),
        ("null.yaml", {**good, "principles": [{**good["principles"][0], "id": None} for _ in range(2)]}, "valid string"),
        ("spaces.yaml", {**good, "principles": [{**good["principles"][0], "critique": " " * 14}]}, "not just spaces"),
    ]:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        _fails(load_constitution, path, words)
    monkeypatch.chdir(tmp_path)
    Path("broad").write_text(yaml.safe_dump({**good, "name": "my-local-broad"}), encoding="utf-8")
    assert load_constitution("broad").name == "my-local-broad"  # a local file is never shadowed


# -- property tests: any bytes, any YAML value, any mutation of a valid file -----------------------------------
LOADERS = {
    "constitution.yaml": load_constitution, "config.yaml": lambda p: load_config(p), "policy.yaml": load_policy,
    "gate.yaml": load_gate, "prompts.jsonl": load_prompts, "prompts.json": load_prompts, "prompts.csv": load_prompts,
    "prefs.jsonl": load_preferences, "metrics.json": load_metrics,
}
VALID = {"constitution.yaml": resolve("custom-example").read_bytes(), "policy.yaml": packaged_policy("default").read_bytes(),
         "config.yaml": b"name: x\nsft:\n  epochs: 1\n", "gate.yaml": b"schema: constitutional.gate/1\nrules:\n"
         b"  - {metric: refusal_rate, max_drop: 2}\n", "prompts.jsonl": b'{"id": "a", "prompt": "hi"}\n',
         "prompts.json": b'[{"id": "a", "prompt": "hi"}]', "prompts.csv": b"id,prompt\na,hi\n",
         "prefs.jsonl": b'{"prompt": "q", "chosen": "a", "rejected": "b"}\n',
         "metrics.json": b'{"schema": "constitutional.metrics/1", "models": {"m": {"summary": {"refusal_rate": 0.5}}}}'}
yaml_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                           max_leaves=20)


def _loads_or_explains(tmp_path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    t0 = time.perf_counter()
    tracemalloc.start()
    try:
        LOADERS[name](path)
    except ConstitutionalError as e:
        assert str(path) in e.render()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5 and peak < 100e6  # the bound: seconds and megabytes, whatever the input


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(name=st.sampled_from(sorted(LOADERS)), data=st.binary(max_size=300))
def test_any_bytes_load_or_get_a_clear_error(tmp_path, name, data):
    _loads_or_explains(tmp_path, name, data)


@FUZZ
@given(name=st.sampled_from(sorted(LOADERS)), value=yaml_values)
def test_any_yaml_or_json_value_loads_or_gets_a_clear_error(tmp_path, name, value):
    text = json.dumps(value) if name.endswith((".json", ".jsonl")) else yaml.safe_dump(value)
    _loads_or_explains(tmp_path, name, text.encode())


@FUZZ
@given(name=st.sampled_from(sorted(LOADERS)), cuts=st.lists(st.tuples(st.integers(0, 4000), st.binary(max_size=6)),
                                                            min_size=1, max_size=4))
def test_mutations_of_valid_files_load_or_get_a_clear_error(tmp_path, name, cuts):
    data = bytearray(VALID[name])
    for at, junk in cuts:
        at %= len(data) + 1
        data[at : at + len(junk)] = junk
    _loads_or_explains(tmp_path, name, bytes(data))


def test_a_stage_command_checks_what_it_will_read_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from constitutional.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["distill", f"--runs_dir={tmp_path}", "--distill.prompts=[redteam, missing.jsonl]"])
    assert r.exit_code == 2 and "missing.jsonl" in r.output and "distill.prompts" in r.output
    r = runner.invoke(app, ["run", f"--runs_dir={tmp_path}", "--stages=[distill, sft, pairs, feedback, reward, rl]",
                            "--rl.reward=no-such-reward"])
    assert r.exit_code == 2 and "unknown reward" in r.output
    assert not any(tmp_path.iterdir())  # nothing was started


def test_an_unexpected_error_is_one_line_and_its_traceback_only_under_debug(monkeypatch):
    from typer.testing import CliRunner

    from constitutional import constitution
    from constitutional.cli import DEBUG, app

    def broken():
        raise RuntimeError("something we did not foresee")

    monkeypatch.setattr(constitution, "packaged_names", broken)
    monkeypatch.setitem(DEBUG, "on", False)
    r = CliRunner().invoke(app, ["constitution", "list"])
    assert r.exit_code == 1 and "unexpected error: RuntimeError: something we did not foresee" in r.output
    assert "Traceback" not in r.output and "--debug" in r.output
    r = CliRunner().invoke(app, ["--debug", "constitution", "list"])
    assert isinstance(r.exception, RuntimeError)


def test_what_the_project_writes_as_yaml_it_reads_back(tmp_path):
    from constitutional.core.config import dump_config
    from constitutional.core.yamlio import dump_yaml, load_yaml_text

    shared = ["a", "b"]
    assert load_yaml_text(dump_yaml({"x": shared, "y": shared}), "t.yaml")[0] == {"x": shared, "y": shared}
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(load_config(None, ["--name=again"])), encoding="utf-8")
    assert load_config(path).name == "again"
