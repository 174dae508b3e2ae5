"""AI feedback: both-order debiasing, ensembles, clamping, agreement metrics,
and the real one-pass scorer on a tiny model."""

import math

import pytest

from constitutional.feedback.judge import (
    ANSWER_PREFIX,
    COT_PREFIX,
    JudgeSettings,
    Pair,
    agreement,
    judge_conversation,
    load_shots,
    position_bias,
    score_pairs,
)


class FakeJudge:
    """A judge with a known position bias: logit P(A) = bias + 2 * (good(first) - good(second)),
    where good(text) is 1 when the text contains 'GOOD'. It reads the options
    back out of the prompt it is given, like a real judge must."""

    name = "fake"

    def __init__(self, bias: float, reasoning: str = "thinking"):
        self.bias, self.reasoning, self.generated = bias, reasoning, 0

    @staticmethod
    def _options(conv):
        text = [m for m in conv if m["role"] == "user"][-1]["content"]
        first = text.split("\n(A) ", 1)[1].split("\n(B) ", 1)[0]
        second = text.split("\n(B) ", 1)[1]
        return first, second

    def option_probs(self, convs, options):
        assert list(options) == ["A", "B"]
        out = []
        for c in convs:
            assert c[-1]["role"] == "assistant" and c[-1]["content"].endswith(ANSWER_PREFIX)
            first, second = self._options(c)
            z = self.bias + 2 * (("GOOD" in first) - ("GOOD" in second))
            p = 1 / (1 + math.exp(-z))
            out.append([p, 1 - p])
        return out

    def generate(self, convs, params):
        self.generated += len(convs)
        assert all(c[-1]["content"] == COT_PREFIX for c in convs)
        return [self.reasoning] * len(convs)


PAIRS = [Pair("p1", ({"role": "user", "content": "q1"},), "GOOD reply", "bad reply"),
         Pair("p2", ({"role": "user", "content": "q2"},), "bad reply", "GOOD reply"),
         Pair("p3", ({"role": "user", "content": "q3"},), "same", "same")]


def test_both_orders_cancel_a_pure_position_bias():
    """A judge that only likes slot A (P(A)=0.8 whatever it reads) must give 0.5, not 0.8."""
    results = score_pairs(FakeJudge(bias=math.log(4)), PAIRS[2:], [["Which is better?"]], JudgeSettings())
    assert results[0]["p_a"] == pytest.approx(0.5)
    assert results[0]["scores"][0] == pytest.approx([0.8, 0.2])  # a first: P(a)=0.8; a second: P(a)=0.2
    assert position_bias(results) == pytest.approx(0.3)


def test_order_matters_and_the_average_recovers_the_preference():
    """bias 3 with a +-2 content effect: with GOOD in slot A the judge says A with
    sigmoid(5); with GOOD in slot B it still says A, sigmoid(1) = 0.73, which is
    wrong. Averaged over both orders, P(GOOD wins) = (sigmoid(5) + 1 - sigmoid(1)) / 2
    = 0.63: right in both pairs, by the same amount whichever slot it was listed in."""
    results = score_pairs(FakeJudge(bias=3.0), PAIRS[:2], [["q?"], ["q?"]], JudgeSettings())
    s = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    expected = (s(5) + (1 - s(1))) / 2
    assert results[0]["p_a"] == pytest.approx(expected)
    assert results[1]["p_a"] == pytest.approx(1 - expected)
    one_order = [r["scores"][0][0] for r in results]  # pair 2 read in one order only: P(a) = s(3 - 2) > 0.5, wrong
    assert one_order[1] > 0.5
    check = agreement(results, [1.0, 0.0])
    assert check["accuracy"] == 1.0 and check["accuracy_one_order"] == 0.5


def test_ensemble_averages_every_question_in_both_orders():
    judge = FakeJudge(bias=0.0)
    results = score_pairs(judge, PAIRS[:1], [["q1?", "q2?", "q3?"]], JudgeSettings(k=3))
    assert len(results[0]["scores"]) == 3 and results[0]["questions"] == ["q1?", "q2?", "q3?"]


def test_chain_of_thought_reasons_first_and_labels_are_clamped():
    judge = FakeJudge(bias=0.0, reasoning="The first reply is kinder.")
    settings = JudgeSettings(cot=True, clamp=(0.4, 0.6))
    results = score_pairs(judge, PAIRS[:2], [["q?"], ["q?"]], settings)
    assert judge.generated == 4  # one chain of thought per (pair, order)
    assert [r["p_a"] for r in results] == [0.6, 0.4]  # unclamped they are 0.88 and 0.12
    conv = judge_conversation(PAIRS[0], "q?", False, settings, "because")
    assert conv[-1]["content"] == f"{COT_PREFIX} because\n{ANSWER_PREFIX}"


def test_few_shot_judgments_come_first_as_chat_turns():
    shots = load_shots()
    conv = judge_conversation(PAIRS[0], "q?", True, JudgeSettings(shots=shots[:2]))
    assert len(conv) == 6 and conv[1]["content"] == f"{ANSWER_PREFIX}{shots[0].answer})"
    assert "(A) bad reply\n(B) GOOD reply" in conv[-2]["content"]  # swapped order


def test_agreement_reports_calibration():
    results = [{"p_a": 0.9, "p_first": 0.5, "scores": [[0.9, 0.9]]}, {"p_a": 0.9, "p_first": 0.5, "scores": [[0.9, 0.9]]}]
    check = agreement(results, [1.0, 0.0])
    assert check["accuracy"] == 0.5 and check["ece"] == pytest.approx(0.4)
    assert check["brier"] == pytest.approx((0.01 + 0.81) / 2)


def test_tiny_model_scores_with_one_pass_per_prompt(tiny_generator):
    """The real scorer: 2 pairs x 2 orders are 4 judge prompts, one batch, and "A"/"B" are
    single tokens, so the model runs exactly once; each P(A) is the softmax of the two
    options' next-token log-probs that a full forward pass of the same prompt gives."""
    import torch

    calls = []
    # the backbone: the prompt pass may run the LM head by itself (decode.LastLogits)
    hook = tiny_generator.model.model.register_forward_hook(lambda *a: calls.append(1))
    saved, tiny_generator.min_shared_prefix = tiny_generator.min_shared_prefix, 0  # no separate prefix pass
    try:
        results = score_pairs(tiny_generator, PAIRS[:2], [["Which reply is better?"]] * 2, JudgeSettings())
    finally:
        hook.remove()
        tiny_generator.min_shared_prefix = saved
    assert len(calls) == 1
    tok = tiny_generator.tokenizer
    a_id, b_id = (tok(x, add_special_tokens=False)["input_ids"][0] for x in ("A", "B"))
    for pair, r in zip(PAIRS[:2], results):
        expected = []
        for swapped in (False, True):
            ids = torch.tensor([tiny_generator.encode(judge_conversation(pair, "Which reply is better?", swapped,
                                                                         JudgeSettings()))])
            with torch.no_grad():
                logits = tiny_generator.model(input_ids=ids).logits[0, -1]
            p_first = torch.softmax(logits[[a_id, b_id]].float(), -1)[0].item()
            expected.append(1 - p_first if swapped else p_first)  # P(pair.a wins) in that order
        assert r["scores"][0] == pytest.approx(expected, abs=1e-4)
        assert r["p_a"] == pytest.approx(sum(expected) / 2, abs=1e-4)
