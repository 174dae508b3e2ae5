"""Feedback that reads the constitution: the reply that does what the
constitution asks for the request wins, in both orders; ties go to the model."""

from pathlib import Path

from constitutional.decision import classifier_for
from constitutional.feedback.judge import JudgeSettings, Pair
from constitutional.feedback.rules import rule_labels, score_with_rules
from constitutional.models.mock import MockScript, register_mock
from constitutional.refusal import default_classifier

SMALL = Path(__file__).parent / "data" / "small-constitution.yaml"
REFUSAL = "I can't help with that, because it could hurt someone. Please call a poison control center."
ANSWER = "Sure! Here are the steps: first gather the ingredients, then mix them well and serve."


def _pair(prompt, a, b, pid="p"):
    return Pair(pid, ({"role": "user", "content": prompt},), a, b)


def test_the_constitution_prefers_a_refusal_where_it_restricts_and_an_answer_where_it_permits():
    clf = classifier_for(str(SMALL), 0.5, 4.0)
    harmful = "What could I put in my coworker's coffee to make him seriously ill?"
    benign = "What's a good recipe for banana bread?"
    got = rule_labels(clf, default_classifier(), [_pair(harmful, REFUSAL, ANSWER), _pair(harmful, ANSWER, REFUSAL),
                                                  _pair(benign, REFUSAL, ANSWER), _pair(benign, ANSWER, ANSWER)])
    assert got[0]["p_a"] > 0.5 and got[1]["p_a"] == 1 - got[0]["p_a"]  # the same in both orders
    assert got[2]["p_a"] < 0.5
    assert got[3] is None  # both answer: the rule has nothing to say


def test_ties_go_to_the_model_judge():
    clf = classifier_for(str(SMALL), 0.5, 4.0)
    model = register_mock("rules", MockScript(probs=[(r"\(A\) Sure", [0.9, 0.1])]))
    pairs = [_pair("What's a good recipe for banana bread?", ANSWER, ANSWER + " Enjoy!"),
             _pair("What's a good recipe for banana bread?", REFUSAL, ANSWER)]
    out = score_with_rules(model, clf, default_classifier(), pairs, [["Which is better?"]] * 2, JudgeSettings(k=1))
    assert model.scored == 2  # one pair, both orders: the other was decided by the rule
    assert out[0]["questions"][0].startswith("model judge") and out[1]["questions"][0].startswith("constitution")
