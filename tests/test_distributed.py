"""Training beyond one process: `accelerate launch` with the packaged DDP config
runs TRL's real SFTTrainer in two CPU processes (gloo) on the tiny model."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from constitutional.core.config import dump_config, load_config
from constitutional.core.errors import ConstitutionalError
from constitutional.stages import sl_cai

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def _cfg(tmp_path, tiny_model_dir, **over):
    return load_config(None, {
        "name": "ddp", "runs_dir": str(tmp_path), "model": f"hf:{tiny_model_dir}", "batch_size": 4, "dtype": "float32",
        "sl_cai.limit": 6, "sl_cai.rounds": 1, "sl_cai.response_tokens": 12, "sl_cai.critique_tokens": 8,
        "sl_cai.revision_tokens": 12, "sft.data": "sl_cai", "sft.drop_flagged": False, "sft.epochs": 2,
        "sft.batch_size": 2, "sft.grad_accum": 1, "sft.learning_rate": 1e-3, "sft.helpful_ratio": 0.0,
        "sft.max_length": 128, "sft.save_steps": 100, **over})


def test_sft_trains_in_two_processes_with_ddp(tmp_path, tiny_model_dir):
    cfg = _cfg(tmp_path, tiny_model_dir)
    sl_cai.main(cfg)
    path = tmp_path / "ddp.yaml"
    path.write_text(dump_config(cfg), encoding="utf-8")
    cli = shutil.which("constitutional") or str(Path(sys.executable).parent / "constitutional")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CONSTITUTIONAL_DEBUG": "1"}
    proc = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                           str(ROOT / "configs" / "accelerate" / "ddp-cpu.yaml"), "--num_processes", "2",
                           "--main_process_port", str(free_port()), cli, "sft", str(path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    entry = json.loads((cfg.run_dir / "manifest.json").read_text())["stages"]["sft"]
    assert entry["status"] == "done"
    summary = entry["summary"]
    assert summary["processes"] == 2  # the trainer's own world size: DDP, not two copies side by side
    # 6 examples, 2 per process per step, 2 processes: 2 optimizer steps an epoch (3 in one process)
    assert summary["steps"] == 2 * math.ceil(6 / (2 * 2))
    assert math.isfinite(summary["final loss"])
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(cfg.run_dir / "sft" / "model" / "model.safetensors"))
    assert set(after) == set(before) and any(not torch.equal(before[k], after[k]) for k in before)
    assert not (cfg.run_dir / "sft" / "checkpoints").exists()
    assert proc.stdout.count("SFT summary") == 1  # one process speaks


def test_only_trainer_stages_run_under_a_launcher(tmp_path, tiny_model_dir, monkeypatch):
    from constitutional.stages.artifacts import preflight

    monkeypatch.setenv("WORLD_SIZE", "2")
    cfg = _cfg(tmp_path, tiny_model_dir)
    with pytest.raises(ConstitutionalError, match="distill cannot run under accelerate launch"):
        preflight(cfg, ["distill"])
    with pytest.raises(ConstitutionalError, match="LoRA training is single-process"):
        preflight(_cfg(tmp_path, tiny_model_dir, **{"sft.lora": True}), ["sft"])
    preflight(cfg, ["sft"])
