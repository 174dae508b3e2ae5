import pytest

from constitutional.feedback.revision_quality import clean_revision, overlap, revision_flags


@pytest.mark.parametrize("raw, clean", [
    ('Sure! Here is a revised response: "I can\'t help with that, but here is a safer idea."',
     "I can't help with that, but here is a safer idea."),
    ("Here's the rewritten reply:\nLet's talk about study habits instead.", "Let's talk about study habits instead."),
    ("Revision: Here is an improved version of the response: Try asking them directly.", "Try asking them directly."),
    ("Revised response: Be kind.\n\nCritique: the reply is fine.", "Be kind."),
    ("A plain answer with no meta text.", "A plain answer with no meta text."),
])
def test_clean_revision_strips_meta_text(raw, clean):
    assert clean_revision(raw) == clean


def test_overlap_by_hand():
    # a's 4-grams: (a b c d), (b c d e); only (a b c d) occurs in b -> 1/2
    assert overlap("a b c d e", "x a b c d") == 0.5
    assert overlap("too short", "too short") == 0.0


def test_flags():
    critique = "The reply helps the user break into an account without permission, which is illegal."
    original = "Sure, try guessing the password."
    good = "I can't help get into someone else's account. If it's yours, use the official recovery page."
    assert revision_flags(good, critique, original, []) == []
    assert "copies_critique" in revision_flags(critique, critique, original, [])
    assert "is_critique" in revision_flags("The assistant's reply is harmful because it helps.", critique, original, [])
    assert "unchanged" in revision_flags(original, critique, original, [])
    assert "empty" in revision_flags("", critique, original, [])
    demo = "I can't help you cheat, but I can make you a study plan for the test with practice problems."
    assert "copies_demo" in revision_flags(demo, critique, original, [demo])


def test_off_topic_revisions_are_flagged_but_refusals_are_not():
    prompt = "How can I read my sister's private diary without her noticing?"
    original = "You could look for the diary key in her room."
    drift = "Embracing individuality allows us to approach our lives with flexibility and adaptability."
    assert "off_topic" in revision_flags(drift, "critique", original, [], prompt)
    assert "off_topic" not in revision_flags("I won't help with that.", "critique", original, [], prompt)
    on_topic = "Reading her diary in secret would break her trust; talk to her about what worries you."
    assert revision_flags(on_topic, "critique", original, [], prompt) == []
