"""Self-Critique as a model spec: the draft -> critique -> revise loop, its stop criterion, and the spec through
``serve`` with the real ``openai`` client."""

from __future__ import annotations

import pytest

from constitutional.core.errors import ConstitutionalError
from constitutional.feedback.refine import parse_options
from constitutional.models import SamplingParams, load_generator, parse_spec
from constitutional.models.mock import MockScript, register_mock
from constitutional.models.registry import model_identity


def test_refine_options_parse_and_bad_ones_are_errors():
    assert parse_options("smollm2-135m?rounds=2") == ("smollm2-135m", {"rounds": 2, "constitution": "cai-2022",
                                                                         "tokens": 96})
    assert parse_options("openai:http://h:1/v1#m")[0] == "openai:http://h:1/v1#m"
    with pytest.raises(ConstitutionalError, match="unknown refine option"):
        parse_options("smollm2-135m?round=2")
    with pytest.raises(ConstitutionalError, match="out of range"):
        parse_options("smollm2-135m?rounds=9")
    assert parse_spec("refine:mock:x?rounds=1")[0] == "plugin:refine"


def test_a_reply_is_critiqued_and_revised_until_the_critique_says_no_changes():
    mock = register_mock("refine-loop", MockScript(rules=[
        (r"No changes needed\.$", "The reply is rude. It should be kinder."),  # the critique request
        (r"Rewrite|[Rr]evise", "Here is a kinder answer: please try the library."),  # the revision request
    ], replies=["Go away."]))
    gen = load_generator("refine:mock:refine-loop?rounds=3")
    out = gen.generate([[{"role": "user", "content": "Where can I read about birds?"}]],
                       SamplingParams(max_new_tokens=16, temperature=0.0))
    assert out == ["Here is a kinder answer: please try the library."]
    assert gen.last_rounds == [2]  # round 2's revision came back unchanged: no third round
    mock.script.rules[0] = (r"No changes needed\.$", "No changes needed.")
    gen2 = load_generator("refine:mock:refine-loop?rounds=2&tokens=8")
    assert gen2.generate([[{"role": "user", "content": "Hi"}]], SamplingParams(max_new_tokens=8)) == ["Go away."]
    assert gen2.last_rounds == [0]  # the critique found nothing: no revision was made


def test_refine_identity_follows_the_inner_model_and_the_options(tiny_model_dir):
    a = model_identity(f"refine:hf:{tiny_model_dir}?rounds=1")
    assert a != model_identity(f"refine:hf:{tiny_model_dir}?rounds=2")
    assert model_identity(f"hf:{tiny_model_dir}") in a


def test_refine_is_served_through_the_openai_client(tiny_model_dir):
    import openai

    from constitutional.models.serve import create_app

    from .conftest import ServerThread

    gen = load_generator(f"refine:hf:{tiny_model_dir}?rounds=1&tokens=8", dtype="float32", batch_size=4)
    with ServerThread(create_app(gen, "refine")) as srv:
        client = openai.OpenAI(base_url=srv.url, api_key="x")
        r = client.chat.completions.create(model="refine", messages=[{"role": "user", "content": "Name a color."}],
                                           max_tokens=8, temperature=0)
    assert r.choices[0].message.content.strip()
    assert r.usage.prompt_tokens > 0
