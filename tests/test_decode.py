"""The decode loop: finished rows leave the batch, and nothing else changes."""

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
from transformers.cache_utils import DynamicLayer

from constitutional.core.seeding import seed_for
from constitutional.models.decode import GrowingLayer, decode
from constitutional.models.hf import SeededSampler

PROMPTS = ["Hi", "Tell me a long story about a lighthouse keeper and a storm at sea.", "What is 2 + 2?",
           "Name three rivers.", "How do I bake bread?"]
STEPS = 16


def _load(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32).eval()
    rows = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True) for p in PROMPTS]
    rows = [r["input_ids"] if not isinstance(r, list) else r for r in rows]
    return tok, model, rows


def _batch(rows, pad):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def _until(tokens, eos):
    return tokens[: tokens.index(eos) + 1] if eos in tokens else tokens


def _eos_that_ends_some_rows_early(outputs):
    """A token some rows emit in mid-answer and others never do: used as the end of sequence."""
    for tok in (t for row in outputs for t in row[2:STEPS - 2]):
        ends = [tok in row[: STEPS - 1] for row in outputs]
        if any(ends) and not all(ends):
            return tok
    raise AssertionError("no token ends some rows but not others")


def _batch_sizes(model):
    sizes = []
    model.model.register_forward_pre_hook(lambda m, args, kw: sizes.append(kw["input_ids"].shape[0]), with_kwargs=True)
    return sizes


def test_finished_rows_leave_the_batch_and_the_others_match_generate(tiny_model_dir):
    tok, model, rows = _load(tiny_model_dir)
    ids, mask = _batch(rows, tok.pad_token_id)
    with torch.inference_mode():
        free = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=STEPS, do_sample=False,
                              eos_token_id=None, pad_token_id=tok.pad_token_id)[:, ids.shape[1]:].tolist()
    eos = _eos_that_ends_some_rows_early(free)
    with torch.inference_mode():
        ref = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=STEPS, do_sample=False,
                             eos_token_id=eos, pad_token_id=tok.pad_token_id)[:, ids.shape[1]:].tolist()
    sizes = _batch_sizes(model)
    got = decode(model, ids, mask, DynamicCache(config=model.config), cached=0, max_new_tokens=STEPS, eos_ids=[eos])
    assert got == [_until(r, eos) for r in ref]
    assert any(len(g) < STEPS for g in got) and any(len(g) == STEPS for g in got)
    # the first call is the prefill of every row; later calls carry only the rows still decoding
    assert sizes[0] == len(rows) and sizes[-1] == sum(len(g) == STEPS for g in got) < len(rows)
    assert sizes == sorted(sizes, reverse=True)


def test_a_rows_sample_does_not_change_when_other_rows_finish_first(tiny_model_dir):
    tok, model, rows = _load(tiny_model_dir)
    seeds = [seed_for(7, r) for r in rows]

    def sample(batch_rows, batch_seeds, eos):
        ids, mask = _batch(batch_rows, tok.pad_token_id)
        return decode(model, ids, mask, DynamicCache(config=model.config), cached=0, max_new_tokens=STEPS,
                      eos_ids=eos, sampler=SeededSampler(1.0, 0.95, batch_seeds))

    eos = [_eos_that_ends_some_rows_early(sample(rows, seeds, []))]
    together = sample(rows, seeds, eos)
    assert any(len(t) < STEPS for t in together) and any(len(t) == STEPS for t in together)
    assert together == [sample([r], [s], eos)[0] for r, s in zip(rows, seeds)]


def test_the_growing_cache_layer_holds_what_concatenation_holds(monkeypatch):
    monkeypatch.setattr(GrowingLayer, "GROW", 2)  # reallocate often
    gen = torch.Generator().manual_seed(0)
    grow, plain = GrowingLayer(), DynamicLayer()
    for step, n in enumerate([5, 1, 1, 1, 3, 1]):
        k, v = torch.randn(4 if step < 3 else 2, 2, n, 8, generator=gen), torch.randn(4 if step < 3 else 2, 2, n, 8,
                                                                                       generator=gen)
        if step == 3:  # rows 1 and 3 finished
            keep = torch.tensor([0, 2])
            grow.batch_select_indices(keep)
            plain.batch_select_indices(keep)
        gk, gv = grow.update(k, v)
        pk, pv = plain.update(k, v)
        assert torch.equal(gk, pk) and torch.equal(gv, pv)
        assert grow.get_seq_length() == plain.get_seq_length()


def test_prefill_in_slices_of_rows_gives_the_same_answers(tiny_model_dir, monkeypatch):
    import constitutional.models.decode as dec
    from constitutional.models.base import SamplingParams
    from constitutional.models.hf import TransformersGenerator

    gen = TransformersGenerator(tiny_model_dir, batch_size=8, min_shared_prefix=4)
    system = {"role": "system", "content": "You answer briefly and plainly, in one or two sentences at most."}
    convs = [[{"role": "user", "content": p}] for p in PROMPTS] + [[system, {"role": "user", "content": p}]
                                                                 for p in PROMPTS]
    params = SamplingParams(max_new_tokens=STEPS, temperature=1.0, seed=3)
    whole = gen.generate(convs, params)
    batch_sizes, prefixes = _batch_sizes(gen.model), []
    real = dec.prefill
    monkeypatch.setattr(dec, "prefill", lambda last, ids, mask, pos, cache, kw: prefixes.append(
        cache.get_seq_length()) or real(last, ids, mask, pos, cache, kw))
    monkeypatch.setattr(dec, "PREFILL_TOKENS", 8)  # one row per forward
    sliced = gen.generate(convs, params)
    assert sliced == whole
    assert all(prefixes)  # each batch read its rows' shared prefix from a cache (the slices copied it)
    assert batch_sizes[:len(PROMPTS)] == [1] * len(PROMPTS)  # the first batch's prompts went in one row at a time
