"""SFT by TRL's real SFTTrainer on the tiny model: parameters move, the loss
is finite, the checkpoint is a plain safetensors model usable as a spec."""

import math

import pytest
import torch
from safetensors.torch import load_file

from constitutional.core.config import load_config
from constitutional.core.errors import ConstitutionalError
from constitutional.models import SamplingParams, load_generator
from constitutional.stages import sft, sl_cai


def _cfg(tmp_path, tiny_model_dir, **over):
    base = {"name": "t", "runs_dir": str(tmp_path), "model": f"hf:{tiny_model_dir}", "batch_size": 4,
            "dtype": "float32", "sl_cai.limit": 6, "sl_cai.rounds": 1, "sl_cai.response_tokens": 12,
            "sl_cai.critique_tokens": 8, "sl_cai.revision_tokens": 12, "sft.data": "sl_cai", "sft.drop_flagged": False,
            "sft.epochs": 2, "sft.batch_size": 2, "sft.grad_accum": 1, "sft.learning_rate": 1e-3,
            "sft.helpful_ratio": 0.5, "sft.helpful_tokens": 12, "sft.max_length": 128, "sft.save_steps": 3}
    return load_config(None, {**base, **over})


@pytest.mark.parametrize("lora", [False, True])
def test_sft_trains_and_saves_a_loadable_checkpoint(tmp_path, tiny_model_dir, lora):
    cfg = _cfg(tmp_path, tiny_model_dir, **{"sft.lora": lora})
    sl_cai.main(cfg)
    result = sft.main(cfg)
    assert result["harmlessness examples"] == 6 and result["helpful examples"] == 3
    assert math.isfinite(result["final loss"]) and result["steps"] >= 4
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(cfg.run_dir / "sft" / "model" / "model.safetensors"))
    assert set(after) == set(before), "a merged LoRA model has the base model's tensor names"
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert moved, "no parameter changed"
    if lora:  # LoRA targets linear layers only; embeddings stay put
        assert all("embed" not in k for k in moved)
    tuned = load_generator(f"hf:{cfg.run_dir / 'sft' / 'model'}", dtype="float32")
    assert isinstance(tuned.generate([[{"role": "user", "content": "hi"}]],
                                     SamplingParams(max_new_tokens=4, temperature=0))[0], str)
    assert (cfg.run_dir / "sft" / "helpful.jsonl").is_file()
    # done means done: a second call does not train again
    assert sft.main(cfg) == result


def test_sft_without_sl_cai_records_says_what_to_run(tmp_path, tiny_model_dir):
    with pytest.raises(ConstitutionalError, match="run the sl_cai stage first"):
        sft.main(_cfg(tmp_path, tiny_model_dir))


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path, tiny_model_dir, monkeypatch):
    from transformers import TrainerCallback

    from constitutional.train import trainers

    real = trainers.SFTTrainer
    resumed_from = []

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 4:  # after the step-3 checkpoint
                raise KeyboardInterrupt("simulated kill")

    def trainer(kill):
        class Recording(real):
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                if kill:
                    self.add_callback(Kill())

            def train(self, resume_from_checkpoint=None, **k):
                resumed_from.append(resume_from_checkpoint)
                return super().train(resume_from_checkpoint=resume_from_checkpoint, **k)

        return Recording

    cfg = _cfg(tmp_path, tiny_model_dir)
    sl_cai.main(cfg)
    monkeypatch.setattr(trainers, "SFTTrainer", trainer(kill=True))
    with pytest.raises(KeyboardInterrupt):
        sft.main(cfg)
    assert not (cfg.run_dir / "sft" / "model").exists()
    monkeypatch.setattr(trainers, "SFTTrainer", trainer(kill=False))
    result = sft.main(cfg)
    assert resumed_from[0] is None and resumed_from[1].endswith("checkpoint-3")
    assert result["steps"] == 10  # 9 examples / batch 2 = 5 steps per epoch, 2 epochs: none lost, none repeated
