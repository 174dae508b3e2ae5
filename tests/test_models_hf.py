import math

import pytest
import torch

from constitutional.core.errors import ConstitutionalError
from constitutional.models import SamplingParams, load_generator, parse_spec
from constitutional.models.base import truncate_at_stop
from constitutional.models.hf import TopKTopP, TransformersGenerator, normalize_logprobs

CONVS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Tell me a long story about a lighthouse keeper and a storm at sea."}],
    [{"role": "user", "content": "What is 2 + 2?"}],
]
GREEDY = SamplingParams(max_new_tokens=12, temperature=0)


def test_batched_left_padded_generation_matches_one_by_one(tiny_generator):
    batched = tiny_generator.generate(CONVS, GREEDY)
    single = [tiny_generator.generate([c], GREEDY)[0] for c in CONVS]
    assert batched == single
    assert all(batched)


def test_sampling_is_seeded(tiny_generator):
    p = SamplingParams(max_new_tokens=12, temperature=1.0, seed=3)
    assert tiny_generator.generate(CONVS, p) == tiny_generator.generate(CONVS, p)
    assert tiny_generator.generate(CONVS, p) != tiny_generator.generate(CONVS, SamplingParams(
        max_new_tokens=12, temperature=1.0, seed=4))


def test_option_probs_match_a_hand_computed_forward_pass(tiny_generator):
    options = ["(A)", "(B)", " maybe not"]
    got = tiny_generator.option_probs(CONVS, options)
    for conv, row in zip(CONVS, got):
        assert math.isclose(sum(row), 1.0, rel_tol=1e-6)
        prompt = tiny_generator.encode(conv)
        logps = []
        for o in options:
            ids = tiny_generator.tokenizer(o, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                lp = torch.log_softmax(tiny_generator.model(torch.tensor([prompt + ids])).logits[0].float(), -1)
            logps.append(sum(lp[len(prompt) - 1 + j, t].item() for j, t in enumerate(ids)))
        expected = normalize_logprobs(logps)
        assert row == pytest.approx(expected, abs=1e-4)


def test_normalize_logprobs_by_hand():
    # softmax([log .2, log .6]) = [.2/.8, .6/.8] = [.25, .75]
    assert normalize_logprobs([math.log(0.2), math.log(0.6)]) == pytest.approx([0.25, 0.75])
    assert normalize_logprobs([-math.inf, 0.0]) == [0.0, 1.0]


def test_top_k_top_p_keeps_the_nucleus():
    # probs .5 .3 .15 .05: with p=.8 the mass before the 3rd token is .8 -> keep 2 tokens
    scores = torch.log(torch.tensor([[0.05, 0.5, 0.15, 0.3]]))
    out = TopKTopP(0.8, k=3)(None, scores)
    assert torch.isfinite(out).tolist() == [[False, True, False, True]]


def test_stop_strings():
    assert truncate_at_stop("ab. Q: x", ["Q:"]) == "ab. "
    assert truncate_at_stop("abc", ["zz"]) == "abc"


def test_specs_and_their_errors(tmp_path):
    assert parse_spec("smollm2-135m")[0] == "embedded"
    assert parse_spec("openai:http://h:1/v1#m") == ("openai", "http://h:1/v1", "m")
    assert parse_spec(f"hf:{tmp_path}") == ("hf", str(tmp_path), "")
    with pytest.raises(ConstitutionalError, match="unknown model spec"):
        parse_spec("gpt-17")
    with pytest.raises(ConstitutionalError, match="config.json is missing"):
        load_generator(f"hf:{tmp_path}")
    with pytest.raises(ConstitutionalError, match="bad endpoint"):
        parse_spec("openai:localhost:8000")


def test_shared_prefix_len_by_hand():
    from constitutional.models.hf import shared_prefix_len

    assert shared_prefix_len([[1, 2, 3, 4], [1, 2, 3, 5, 6]]) == 3
    assert shared_prefix_len([[1, 2], [1, 2, 3]]) == 1  # each row keeps one token of its own
    assert shared_prefix_len([[7, 8, 9]]) == 2


def test_shared_prefix_reuse_gives_the_same_greedy_output(tiny_model_dir):
    from constitutional.models.hf import TransformersGenerator

    system = {"role": "system", "content": "You are a careful assistant. " * 20}
    convs = [[system] + c for c in CONVS] + [[system, {"role": "user", "content": "Hi"},
                                              {"role": "assistant", "content": "Hello!"},
                                              {"role": "user", "content": "Go on."}]]
    plain = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=4, min_shared_prefix=0)
    reuse = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=4, min_shared_prefix=16)
    p = SamplingParams(max_new_tokens=16, temperature=0)
    assert reuse.generate(convs, p) == plain.generate(convs, p)
    assert reuse._prefix is not None and len(reuse._prefix[0]) > 100  # the prefix cache was used
    assert plain._prefix is None
    assert reuse.generate(convs, p) == plain.generate(convs, p)  # and reused from memory


def test_a_slightly_longer_shared_prefix_reuses_the_cached_one(tiny_model_dir):
    from constitutional.models.hf import TransformersGenerator

    system = {"role": "system", "content": "You are a careful assistant. " * 20}
    first = [[system, {"role": "user", "content": q}] for q in ("Hi", "What now?")]
    second = [[system, {"role": "user", "content": f"Tell me about the {w}"}] for w in ("sea", "sky", "moon")]
    plain = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=4, min_shared_prefix=0)
    reuse = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=4, min_shared_prefix=16)
    p = SamplingParams(max_new_tokens=8, temperature=0)
    reuse.generate(first, p)
    cached = reuse._prefix
    assert reuse.generate(second, p) == plain.generate(second, p)
    assert reuse._prefix is cached  # "Tell me about the" did not force a new prefix computation


def test_option_probs_do_not_depend_on_batching(tiny_model_dir):
    from constitutional.models.hf import TransformersGenerator

    options = ["(A)", "(B)", " maybe not"]
    one = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=1).option_probs(CONVS, options)
    many = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=8).option_probs(CONVS, options)
    for a, b in zip(one, many):
        assert a == pytest.approx(b, abs=1e-4)


def test_stop_strings_cut_the_text_where_the_unstopped_text_has_them(tiny_generator):
    free = tiny_generator.generate(CONVS, SamplingParams(max_new_tokens=24, temperature=0))
    # pick a word each greedy output contains after its start, and stop on it
    stops = tuple({o.split()[2] for o in free if len(o.split()) > 3})
    stopped = tiny_generator.generate(CONVS, SamplingParams(max_new_tokens=24, temperature=0, stop=stops))
    for f, s in zip(free, stopped):
        assert s == truncate_at_stop(f, stops).strip()
        assert not any(x in s for x in stops)


@pytest.mark.parametrize("prefill_tokens", [2048, 8])  # one forward; one row per forward, each with the prefix
def test_option_probs_with_a_shared_prefix_cache_match_plain_batches(tiny_model_dir, monkeypatch, prefill_tokens):
    """Judge prompts share a long preamble: batches reuse its KV cache (and rows
    are length-sorted, and read in slices of rows), which must not change a single probability."""
    monkeypatch.setattr("constitutional.models.decode.PREFILL_TOKENS", prefill_tokens)
    preamble = "Consider the following conversation between a human and an assistant, then pick the better reply. " * 3
    convs = [[{"role": "user", "content": preamble + tail}, {"role": "assistant", "content": "The answer is: ("}]
             for tail in ("Short one.", "A somewhat longer question about tea and biscuits?", "Mid length, okay.")]
    for options in (["A", "B"], ["(A)", "(B) because"]):
        plain = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=1,
                                      min_shared_prefix=0).option_probs(convs, options)
        shared = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=3)
        got = shared.option_probs(convs, options)
        assert shared._prefix is not None and len(shared._prefix[0]) > 32  # the prefix cache was used
        for a, b in zip(plain, got):
            assert a == pytest.approx(b, abs=1e-4)


def test_a_prompts_sample_does_not_depend_on_its_batch(tiny_model_dir):
    """Sampling at T=1: prompt A gets the same reply alone, in a batch of three, after other
    prompts, and at batch size 1 or 4; another seed gives another reply."""
    from constitutional.models.hf import TransformersGenerator

    convs = [[{"role": "user", "content": t}] for t in
             ("Name a color.", "Write a long story about a dragon who learns to bake bread.", "Hi")]
    params = SamplingParams(max_new_tokens=12, temperature=1.0, top_p=0.95, seed=3)
    wide = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=4, min_shared_prefix=0)
    narrow = TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=1, min_shared_prefix=0)
    alone = wide.generate(convs[:1], params)[0]
    assert wide.generate(convs, params)[0] == alone
    assert wide.generate(convs[::-1], params)[2] == alone
    assert narrow.generate(convs, params)[0] == alone
    other = [wide.generate(convs[:1], SamplingParams(max_new_tokens=12, temperature=1.0, seed=s))[0] for s in (4, 5)]
    assert any(o != alone for o in other)


def test_top_p_one_is_no_nucleus_cut():
    """1000 equally likely tokens: at top_p=1 the draws spread past the 100 that the
    top-k-bounded nucleus keeps; at top_p=0.95 they stay inside those 100."""
    from constitutional.models.hf import SeededSampler

    scores = torch.zeros(1, 1000)

    def drawn(top_p):
        return {int(SeededSampler(1.0, top_p, [s])(None, scores).argmax()) for s in range(400)}

    assert len(drawn(1.0)) > 150
    assert len(drawn(0.95)) <= 100
