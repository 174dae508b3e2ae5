"""The comparison's core math against hand-worked values: the RBR hinge fit, Safe RLHF's cost loss and Lagrangian
update, and the judge-corrected rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from constitutional.eval.correction import corrected_rate, rogan_gladen, sens_spec_counts
from constitutional.train.rbr import RankedReply, comparisons, fit_weights, hinge_loss, pairwise_accuracy
from constitutional.train.safe import Lagrangian, cost_loss, lagrangian_update


def test_the_rbr_fit_follows_the_worked_example():
    better = RankedReply("g", "c", 0, 0.0, (1.0, 0.0))
    worse = RankedReply("g", "c", 1, 0.0, (0.0, 1.0))
    assert comparisons([better, worse]) == [(0, 1)]
    assert hinge_loss({"c": np.zeros(2)}, [better, worse], 1.0, 0.0) == pytest.approx(1.0)
    w = fit_weights([better, worse], 2, margin=1.0, l2=0.0, lr=0.25, steps=100)
    assert w["c"] == pytest.approx([0.5, -0.5])  # two steps of 0.25, then the hinge is satisfied
    assert hinge_loss(w, [better, worse], 1.0, 0.0) == pytest.approx(0.0)
    assert pairwise_accuracy(w, [better, worse]) == 1.0


def test_the_rbr_fit_compares_replies_only_within_a_prompt_and_learns_per_category():
    # two prompts, opposite wishes: a refusal is best for the restricted one and worst for the permitted one
    reps = [RankedReply("a", "refuse", 0, 0.0, (1.0,)), RankedReply("a", "refuse", 1, 0.0, (0.0,)),
            RankedReply("b", "comply", 0, 0.0, (0.0,)), RankedReply("b", "comply", 1, 0.0, (1.0,))]
    assert sorted(comparisons(reps)) == [(0, 1), (2, 3)]
    w = fit_weights(reps, 1, margin=1.0, l2=0.0, lr=0.5, steps=200)
    assert w["refuse"][0] > 0 > w["comply"][0]
    assert pairwise_accuracy(w, reps) == 1.0


def test_the_cost_loss_follows_the_worked_example():
    loss = cost_loss(torch.tensor([-1.0]), torch.tensor([1.0]), torch.tensor([-1.0]), torch.tensor([1.0]),
                     torch.tensor([1.0]))
    assert loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-2))) - 2 * math.log(1 / (1 + math.exp(-1))))
    assert loss.item() == pytest.approx(0.753452, abs=1e-6)
    # unknown signs and a pair not about harm drop their terms: only the sign of the unsafe reply is left
    only = cost_loss(torch.tensor([0.0]), torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([1.0]),
                     torch.tensor([0.0]))
    assert only.item() == pytest.approx(math.log(1 + math.exp(-2)))


def test_the_cost_loss_pushes_unsafe_costs_up_and_safe_costs_down():
    c = torch.zeros(2, requires_grad=True)
    cost_loss(c[:1], c[1:], torch.tensor([-1.0]), torch.tensor([1.0]), torch.tensor([1.0])).backward()
    assert c.grad[0] > 0 > c.grad[1]  # gradient descent lowers the safe reply's cost and raises the unsafe one's


def test_the_lagrangian_update_follows_the_worked_values():
    assert lagrangian_update(0.0, 0.5, 0.0, 0.1, 10.0) == pytest.approx(0.05)
    assert lagrangian_update(math.log(2), -0.5, 0.0, 0.1, 10.0) == pytest.approx(math.log(2) - 0.1)  # under: shrinks
    assert lagrangian_update(math.log(4.9), 10.0, 0.0, 1.0, 5.0) == pytest.approx(math.log(5.0))  # clamped


def test_lambda_waits_for_its_delay_then_moves():
    lag = Lagrangian(init=1.0, threshold=0.0, lr=0.1, max_lambda=5.0, delay=1)
    assert lag.step(0.5) == pytest.approx(1.0) and lag.value == pytest.approx(1.0)  # the delay step
    assert lag.step(0.5) == pytest.approx(1.0) and lag.value == pytest.approx(math.exp(0.05))
    assert [h["step"] for h in lag.history] == [1, 2]


def test_rogan_gladen_follows_the_worked_example():
    assert rogan_gladen(0.5, 0.9, 0.8) == pytest.approx(0.3 / 0.7)
    assert rogan_gladen(0.05, 0.9, 0.8) == 0.0  # clipped
    assert rogan_gladen(0.5, 0.5, 0.5) is None  # a judge at chance cannot be corrected for


def test_sensitivity_and_specificity_from_a_three_class_confusion():
    classes = ["comply", "partial", "refuse"]
    m = [[8, 1, 1], [1, 3, 1], [0, 2, 8]]  # rows: true, columns: predicted
    assert sens_spec_counts(classes, m, ["refuse"]) == (8, 10, 13, 15)
    assert sens_spec_counts(classes, m, ["refuse", "partial"]) == (14, 15, 8, 10)


def test_the_corrected_rate_interval_carries_the_judges_uncertainty():
    perfect = corrected_rate(30, 100, 1000, 1000, 1000, 1000, seed=1)
    assert perfect["rate"] == pytest.approx(0.3) and perfect["lo"] < 0.3 < perfect["hi"]
    weak = corrected_rate(30, 100, 16, 20, 16, 20, seed=1)  # se = sp = 0.8, measured on 20 items each
    assert weak["rate"] == pytest.approx((0.3 + 0.8 - 1) / 0.6)
    assert weak["hi"] - weak["lo"] > perfect["hi"] - perfect["lo"]
    assert corrected_rate(0, 0, 8, 10, 8, 10)["rate"] is None
