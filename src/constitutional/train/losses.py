"""The two losses we add to TRL's, as pure functions of tensors.

- ``soft_preference_loss``: the preference model's loss against a soft label
  p = P(a better than b): the binary cross-entropy of sigmoid(r_a - r_b)
  against p (Bai et al. 2022, sec. 4.1). With p = 1 it is TRL's RewardTrainer
  loss, -log sigmoid(r_a - r_b).
- ``weighted_dpo_loss``: DPO's sigmoid loss (Rafailov et al. 2023, eq. 7)
  with a weight w = |2p - 1| per pair, the pair oriented so its preferred
  reply is ``chosen``. Why weights rather than label smoothing: at the start
  of DPO (policy = reference, margin 0) the gradient of the soft-label
  (conservative DPO) loss of a pair is -beta * (p - 1/2): the standard
  pair's gradient (p = 1) times 2p - 1, i.e. times |2p - 1| once the pair is
  oriented. A 50/50 label teaches nothing, a sure one counts fully. The weighted losses
  are *averaged over pairs*, not normalized by the batch's weight sum: a batch
  of near-0.5 labels must move the policy little, not at full strength.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_preference_loss(r_a: torch.Tensor, r_b: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean BCE of sigmoid(r_a - r_b) against P(a better than b)."""
    return F.binary_cross_entropy_with_logits(r_a - r_b, target.to(r_a.dtype))


def weighted_dpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, ref_chosen_logps: torch.Tensor,
                      ref_rejected_logps: torch.Tensor, weight: torch.Tensor, beta: float) -> torch.Tensor:
    """``mean_i w_i * -log sigmoid(beta * ((c_i - rc_i) - (r_i - rr_i)))`` over the batch's pairs.

    Worked example (also the test): beta 0.1, one pair with margin 0 and weight 0.2, one with
    log-ratio margin 10 ln 3 (so beta * margin = ln 3, sigmoid = 0.75) and weight 1:
    (0.2 * ln 2 + 1 * -ln 0.75) / 2 = (0.138629 + 0.287682) / 2 = 0.213156."""
    margin = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
    return (weight.to(margin.dtype) * -F.logsigmoid(beta * margin)).mean()
