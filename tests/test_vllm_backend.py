"""The vLLM backend's own logic: its spec, and how it reads vLLM's outputs.

vLLM needs a CUDA machine, so the library itself is replaced here by a
stand-in that answers in vLLM's documented output shapes (``RequestOutput``:
``outputs[0].text``; ``prompt_logprobs``: one ``{token id: Logprob}`` per
prompt token, ``None`` first), computed by the tiny transformers model. What
this pins is our side: prompts, seeds, and the log-probability arithmetic of
multi-token options, against the transformers backend on the same weights."""

import sys
import types
from types import SimpleNamespace

import pytest
import torch

from constitutional.core.errors import ConstitutionalError
from constitutional.models import SamplingParams, load_generator
from constitutional.models.registry import model_identity
from constitutional.models.vllm_backend import parse_location


def test_options_are_typed_and_passed_through():
    assert parse_location("/m?tensor_parallel_size=2&gpu_memory_utilization=0.85&enforce_eager=true&dtype=bfloat16") \
        == (__import__("pathlib").Path("/m"), {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.85,
                                               "enforce_eager": True, "dtype": "bfloat16"})


def test_a_missing_checkpoint_or_library_is_a_clear_error(tmp_path, tiny_model_dir, monkeypatch):
    with pytest.raises(ConstitutionalError, match="config.json is missing"):
        load_generator(f"vllm:{tmp_path}")
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(ConstitutionalError, match=r"constitutional\[vllm\]"):
        load_generator(f"vllm:{tiny_model_dir}?enforce_eager=true")


class FakeLLM:
    """vLLM's ``LLM`` interface, answered by a transformers model."""

    seen: list = []

    def __init__(self, model, tokenizer, **kw):
        from transformers import AutoModelForCausalLM

        FakeLLM.seen.append(kw)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()

    def generate(self, prompts, sampling, use_tqdm=True):
        sampling = sampling if isinstance(sampling, list) else [sampling] * len(prompts)
        out = []
        for p, sp in zip(prompts, sampling):
            ids = torch.tensor([p["prompt_token_ids"]])
            with torch.no_grad():
                if sp.prompt_logprobs is not None:
                    lp = self.model(ids).logits[0].log_softmax(-1)
                    plp = [None] + [{t: SimpleNamespace(logprob=lp[k - 1, t].item())} for k, t in enumerate(ids[0].tolist())
                                    if k > 0]
                    out.append(SimpleNamespace(outputs=[SimpleNamespace(text="")], prompt_logprobs=plp))
                    continue
                new = self.model.generate(ids, max_new_tokens=sp.max_tokens, do_sample=False)
            out.append(SimpleNamespace(outputs=[SimpleNamespace(text=self.tok.decode(new[0, ids.shape[1]:],
                                                                                     skip_special_tokens=True))],
                                       prompt_logprobs=None))
        return out


@pytest.fixture
def fake_vllm(monkeypatch, tiny_model_dir):
    from transformers import AutoTokenizer

    FakeLLM.tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    mod = types.ModuleType("vllm")
    mod.LLM = FakeLLM
    mod.SamplingParams = lambda **kw: SimpleNamespace(**{"prompt_logprobs": None, **kw})
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


def test_generation_and_multi_token_options_match_transformers(fake_vllm, tiny_model_dir, tiny_generator):
    gen = load_generator(f"vllm:{tiny_model_dir}?tensor_parallel_size=2")
    assert FakeLLM.seen[-1] == {"enable_prefix_caching": True, "trust_remote_code": False, "tensor_parallel_size": 2}
    convs = [[{"role": "user", "content": "Which is better?"}, {"role": "assistant", "content": "The answer is: ("}],
             [{"role": "user", "content": "Pick one."}]]
    options = ["A) the first", "B) the second one"]  # several tokens each
    for got, want in zip(gen.option_probs(convs, options), tiny_generator.option_probs(convs, options)):
        assert got == pytest.approx(want, abs=1e-4)
    greedy = SamplingParams(max_new_tokens=6, temperature=0)
    assert gen.generate(convs, greedy) == tiny_generator.generate(convs, greedy)
    assert model_identity(f"vllm:{tiny_model_dir}?tensor_parallel_size=2") != model_identity(f"vllm:{tiny_model_dir}")
