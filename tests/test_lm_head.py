"""The compact training LM head gives what TRL's fused head gives, on the tiny model: the same
log-probabilities, gradients, metrics and SFT losses, with only the labeled positions projected."""

import pytest
import torch
from transformers import AutoModelForCausalLM
from trl.trainer.utils import add_fused_lm_head

from constitutional.train.lm_head import compact_lm_head, has_compact_head

OUTPUTS = ("log_probs", "entropy", "is_top1", "mean_logits", "log_sum_sq_probs")


def _pair(tiny_model_dir):
    trl_model, ours = (AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
                       for _ in range(2))
    for m in (trl_model, ours):
        add_fused_lm_head(m, outputs=OUTPUTS)
    assert compact_lm_head(ours) and has_compact_head(ours) and not has_compact_head(trl_model)
    return trl_model, ours


def _batch(vocab: int):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (3, 20), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 14:] = 0  # a padded row
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :8] = -100  # the prompt
    labels[2] = -100  # a row with no label at all
    return {"input_ids": ids, "attention_mask": mask}, labels


def test_same_outputs_and_gradients_as_trls_head(tiny_model_dir):
    trl_model, ours = _pair(tiny_model_dir)
    inputs, labels = _batch(trl_model.config.vocab_size)
    a = trl_model(**inputs, labels=labels, fused_lm_head=True)
    b = ours(**inputs, labels=labels, fused_lm_head=True)
    assert torch.equal(a.label_mask, b.label_mask)
    torch.testing.assert_close(b.log_probs, a.log_probs, atol=1e-5, rtol=1e-5)
    for field in ("entropy", "mean_logits", "log_sum_sq_probs"):
        torch.testing.assert_close(getattr(b, field), getattr(a, field), atol=1e-5, rtol=1e-5, msg=field)
    assert torch.equal(b.is_top1, a.is_top1)
    assert (b.log_probs[~b.label_mask] == 0).all() and b.log_probs[b.label_mask].lt(0).all()
    torch.testing.assert_close(b.loss, a.loss)
    a.loss.backward()
    b.loss.backward()
    grads = dict(ours.named_parameters())
    for name, p in trl_model.named_parameters():
        torch.testing.assert_close(grads[name].grad, p.grad, atol=1e-6, rtol=1e-4, msg=name)


def test_plain_forward_and_an_unlabeled_batch(tiny_model_dir):
    trl_model, ours = _pair(tiny_model_dir)
    inputs, labels = _batch(trl_model.config.vocab_size)
    torch.testing.assert_close(ours(**inputs).logits, trl_model(**inputs).logits)
    out = ours(**inputs, labels=torch.full_like(labels, -100), fused_lm_head=True)
    assert out.loss.item() == 0
    out.loss.backward()  # still connected to the graph


def test_a_soft_capped_head_keeps_trls_path(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    model.config.final_logit_softcapping = 30.0
    add_fused_lm_head(model, outputs=OUTPUTS)
    before = model.forward
    assert not compact_lm_head(model) and model.forward is before


@pytest.mark.parametrize("lora", [False, True])
def test_sft_losses_match_trls_trainer(tmp_path, tiny_model_dir, lora):
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import SFTConfig
    from trl import SFTTrainer as TRLSFTTrainer

    from constitutional.train.trainers import SFTTrainer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    rows = [{"prompt": [{"role": "user", "content": f"Name a colour number {i}."}],
             "completion": [{"role": "assistant", "content": "Blue, like the sky on a clear day. " * (1 + i % 3)}]}
            for i in range(8)]
    losses = {}
    for cls in (TRLSFTTrainer, SFTTrainer):
        model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
        args = SFTConfig(output_dir=str(tmp_path / cls.__module__), max_steps=3, per_device_train_batch_size=4,
                         learning_rate=1e-3, logging_steps=1, report_to=[], use_cpu=True, bf16=False, seed=0,
                         save_strategy="no", disable_tqdm=True)
        trainer = cls(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                      peft_config=LoraConfig(r=4, task_type="CAUSAL_LM", target_modules="all-linear") if lora else None)
        if cls is SFTTrainer:  # the project's trainer swapped the head in (on the PEFT model's base with LoRA)
            patched = trainer.model.get_base_model() if lora else trainer.model
            assert has_compact_head(patched)
        trainer.train()
        losses[cls] = [(h["loss"], h["mean_token_accuracy"], h["entropy"]) for h in trainer.state.log_history
                       if "loss" in h]
    assert len(losses[SFTTrainer]) == 3
    for ours, theirs in zip(losses[SFTTrainer], losses[TRLSFTTrainer]):
        assert ours == pytest.approx(theirs, rel=1e-4, abs=1e-5)


def test_weighted_dpo_loss_is_unchanged_by_the_head(tmp_path, tiny_model_dir, monkeypatch):
    from datasets import Dataset
    from trl import DPOConfig

    from constitutional.models.hf import load_tokenizer
    from constitutional.train import trainers

    tok = load_tokenizer(tiny_model_dir)
    rows = [{"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}], "weight": w}
            for q, c, r, w in (("Name a prime.", "7 is prime.", "8.", 0.2),
                               ("Say hi.", "Hello there, nice to meet you!", "No.", 1.0))]
    losses = []
    for compact in (True, False):
        if not compact:
            monkeypatch.setattr(trainers, "compact_lm_head", lambda model: False)
        model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
        with torch.no_grad():  # a policy that differs from its reference
            for p in model.parameters():
                p.add_(0.02 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
        args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, beta=0.1, max_length=64,
                         report_to=[], use_cpu=True, bf16=False)
        trainer = trainers.WeightedDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                              processing_class=tok)
        assert has_compact_head(trainer.model) == compact and has_compact_head(trainer.ref_model) == compact
        batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
        losses.append(trainer.compute_loss(trainer.model, dict(batch)).item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
