"""The losses we add to TRL's, against numbers worked by hand, and the weighted
DPO trainer against TRL's own per-pair loss, in one batched pass."""

import math

import pytest
import torch

from constitutional.train.losses import soft_preference_loss, weighted_dpo_loss


def test_soft_preference_loss_matches_the_hand_worked_value():
    """r_a = 2, r_b = 1, target 0.75: the margin is 1, sigmoid(1) = 0.731059, so
    BCE = -(0.75 * log 0.731059 + 0.25 * log 0.268941)
        = 0.75 * 0.313262 + 0.25 * 1.313262 = 0.234946 + 0.328315 = 0.563261.
    With target 1 it is TRL's hard loss, -log sigmoid(1) = 0.313262."""
    loss = soft_preference_loss(torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([0.75]))
    assert loss.item() == pytest.approx(0.563261, abs=1e-5)
    hard = soft_preference_loss(torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([1.0]))
    assert hard.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1))), abs=1e-6)


def test_weighted_dpo_loss_with_mixed_weights_matches_the_hand_worked_value():
    """beta 0.1. Pair 1: log-ratio margin 0, weight 0.2 -> 0.2 * -log sigmoid(0) = 0.2 * 0.693147.
    Pair 2: chosen log-ratio 10 ln 3, rejected 0, weight 1 -> -log sigmoid(ln 3) = -log 0.75 = 0.287682.
    Mean over the two pairs: (0.138629 + 0.287682) / 2 = 0.213156."""
    chosen = torch.tensor([-5.0, -2.0 + 10 * math.log(3)])
    rejected = torch.tensor([-7.0, -4.0])
    ref_chosen, ref_rejected = torch.tensor([-5.0, -2.0]), torch.tensor([-7.0, -4.0])
    loss = weighted_dpo_loss(chosen, rejected, ref_chosen, ref_rejected, torch.tensor([0.2, 1.0]), beta=0.1)
    assert loss.item() == pytest.approx(0.213156, abs=1e-6)


def test_a_batch_of_near_coin_flip_labels_trains_weakly():
    """Weights are not renormalized by the batch: two pairs of weight 0.1 give a tenth of the
    loss and gradient of the same pairs at weight 1 (normalizing would make them equal)."""
    margin = torch.tensor([0.3, -0.2], requires_grad=True)
    zeros = torch.zeros(2)

    def grad(w):
        margin.grad = None
        weighted_dpo_loss(margin, zeros, zeros, zeros, torch.tensor([w, w]), beta=1.0).backward()
        return margin.grad.clone()

    assert torch.allclose(grad(0.1), 0.1 * grad(1.0))


def test_weighted_dpo_trainer_is_trls_per_pair_loss_weighted_in_one_pass(tmp_path, tiny_model_dir):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    from constitutional.models.hf import load_tokenizer
    from constitutional.train.trainers import WeightedDPOTrainer

    tok = load_tokenizer(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    with torch.no_grad():  # a policy that differs from its reference, so the per-pair losses differ
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    rows = [{"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}], "weight": w}
            for q, c, r, w in (("Name a prime.", "7 is prime.", "8.", 0.2),
                               ("Say hi.", "Hello there, nice to meet you!", "No.", 1.0))]
    args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, beta=0.1, max_length=64,
                     report_to=[], use_cpu=True, bf16=False)
    trainer = WeightedDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    trainer.ref_model.load_state_dict(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).state_dict())
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    weights = batch["weight"].tolist()
    calls = []
    hook = trainer.model.register_forward_hook(lambda *a: calls.append(1))
    loss = trainer.compute_loss(trainer.model, dict(batch))
    hook.remove()
    assert len(calls) == 1  # the policy ran once for the whole batch (chosen and rejected rows together)
    n = len(weights)
    per_pair = []
    for i in range(n):  # TRL's own loss, one pair at a time
        one = {k: (v[[i, n + i]] if v.shape[0] == 2 * n else v[i : i + 1]) for k, v in batch.items() if k != "weight"}
        per_pair.append(DPOTrainer.compute_loss(trainer, trainer.model, one).item())
    assert per_pair[0] != pytest.approx(per_pair[1])
    assert loss.item() == pytest.approx(sum(w * x for w, x in zip(weights, per_pair)) / n, rel=1e-4)
