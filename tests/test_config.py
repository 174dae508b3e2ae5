import pytest

from constitutional.core.config import RunConfig, commented_yaml, load_config, parse_overrides
from constitutional.core.errors import ConstitutionalError


def test_defaults_file_and_overrides_layer_in_that_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: exp\nsl_cai:\n  rounds: 2\n  limit: 10\n")
    cfg = load_config(path, ["--sl_cai.rounds=3", "--seed", "5", "--sl_cai.split=null"])
    assert cfg.name == "exp"
    assert cfg.sl_cai.limit == 10  # from the file
    assert cfg.sl_cai.rounds == 3  # the override wins
    assert cfg.seed == 5 and cfg.sl_cai.split is None
    assert cfg.sft.revisions == "final"  # the default


def test_parse_overrides_parses_yaml_scalars():
    assert parse_overrides(["--a.b=2", "--c=true", "--d", "x y", "--stages=[sl_cai, sft]"]) == {
        "a.b": 2, "c": True, "d": "x y", "stages": ["sl_cai", "sft"]}


def test_bad_value_in_file_names_line_and_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: exp\nsl_cai:\n  limit: 4\n  rounds: many\n")
    with pytest.raises(ConstitutionalError) as e:
        load_config(path)
    assert e.value.line == 4 and e.value.field == "sl_cai.rounds" and str(path) in str(e.value)


def test_unknown_key_in_file_names_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: exp\nsft:\n  epochz: 3\n")
    with pytest.raises(ConstitutionalError) as e:
        load_config(path)
    assert e.value.line == 3 and e.value.field == "sft.epochz" and "unknown setting" in str(e.value)


def test_bad_override_is_blamed_on_the_command_line():
    with pytest.raises(ConstitutionalError) as e:
        load_config(None, ["--sft.lora=maybe"])
    assert e.value.field == "--sft.lora" and "command line" in str(e.value)


def test_unknown_stage_is_rejected():
    with pytest.raises(ConstitutionalError):
        load_config(None, ["--stages=[sl_cai, nonsense]"])


def test_commented_yaml_is_the_default_config(tmp_path):
    text = commented_yaml()
    assert "# critique/revision rounds per prompt" in text
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert load_config(path) == RunConfig()
