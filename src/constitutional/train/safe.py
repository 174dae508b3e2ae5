"""Safe RLHF's two pieces of math (Dai et al. 2023), as pure functions.

- ``cost_loss``: the cost model's loss. A pair ranks the more harmful reply
  above the other (``-log sigmoid(c_worse - c_better)``), and every reply
  whose safety is known is pushed to the right side of zero
  (``-log sigmoid(s * c)``, s = +1 unsafe, -1 safe), so that cost > 0 means
  unsafe and the constraint "mean cost <= threshold" has a meaning. This is
  the loss of PKU's reference cost model; a sign of 0 (unknown) and a rank
  weight of 0 (a pair not about harm) drop their terms.
- ``lagrangian_update``: the online update of the Lagrange multiplier of
  ``max E[reward] - lambda * (E[cost] - threshold)``. It is kept as
  log lambda (so lambda stays positive) and takes one gradient step on
  ``-(mean_cost - threshold) * lambda`` with respect to log lambda, as PKU's
  trainer does (there with Adam, here with plain SGD so the step is exact):
  ``log_lambda += lr * (mean_cost - threshold) * lambda``, then clamped to
  ``log(max_lambda)``. Over the threshold lambda grows, under it it shrinks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def cost_loss(c_better: torch.Tensor, c_worse: torch.Tensor, better_sign: torch.Tensor, worse_sign: torch.Tensor,
              rank_weight: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of ``w * -log sigmoid(c_worse - c_better) + [s_b != 0] * -log sigmoid(s_b * c_better)
    + [s_w != 0] * -log sigmoid(s_w * c_worse)``.

    Worked example (also the test): one pair, c_better = -1 (safe, s = -1), c_worse = 1 (unsafe, s = +1), w = 1:
    -log sigmoid(2) - 2 log sigmoid(1) = 0.126928 + 2 * 0.313262 = 0.753452."""
    rank = rank_weight.to(c_better.dtype) * -F.logsigmoid(c_worse - c_better)
    better_sign, worse_sign = better_sign.to(c_better.dtype), worse_sign.to(c_better.dtype)
    sign_b = (better_sign != 0).to(c_better.dtype) * -F.logsigmoid(better_sign * c_better)
    sign_w = (worse_sign != 0).to(c_better.dtype) * -F.logsigmoid(worse_sign * c_worse)
    return (rank + sign_b + sign_w).mean()


def lagrangian_update(log_lambda: float, mean_cost: float, threshold: float, lr: float, max_lambda: float) -> float:
    """The next log lambda. ``(0.0, 0.5, 0.0, 0.1, 10) -> 0.05``: lambda 1, cost 0.5 over a threshold of 0."""
    new = log_lambda + lr * (mean_cost - threshold) * math.exp(log_lambda)
    return min(new, math.log(max_lambda))


class Lagrangian:
    """lambda's state during RL: updated once per optimizer step from that step's mean cost, after ``delay``
    steps in which it stays at its initial value (PKU's ``lambda_update_delay_steps``)."""

    def __init__(self, init: float, threshold: float, lr: float, max_lambda: float, delay: int):
        self.log_lambda, self.threshold, self.lr, self.max_lambda, self.delay = math.log(init), threshold, lr, \
            max_lambda, delay
        self.steps = 0
        self.history: list[dict] = []

    @property
    def value(self) -> float:
        return math.exp(self.log_lambda)

    def step(self, mean_cost: float) -> float:
        """Record one batch's mean cost, update lambda (after the delay), return the lambda the batch used."""
        used = self.value
        if self.steps >= self.delay:
            self.log_lambda = lagrangian_update(self.log_lambda, mean_cost, self.threshold, self.lr, self.max_lambda)
        self.steps += 1
        self.history.append({"step": self.steps, "lambda": used, "mean_cost": mean_cost})
        return used
