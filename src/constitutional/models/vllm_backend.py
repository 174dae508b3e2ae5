"""vLLM in-process on GPUs: ``vllm:/path/to/checkpoint[?key=value&...]``
(``pip install 'constitutional[vllm]'``; registered as a ``constitutional.backends`` entry point).

Options are passed to ``vllm.LLM`` as they are, typed from their text:
``tensor_parallel_size=4``, ``gpu_memory_utilization=0.85``, ``max_model_len=4096``,
``dtype=bfloat16``, ``enforce_eager=true``... Prefix caching is on, so the
few-shot demonstrations and constitutions that every judge and critique prompt
shares are computed once.

Prompts are tokenized with the checkpoint's own chat template exactly as the
transformers backend does (``hf.encode_conversation``: a final assistant turn is
continued, never restarted). Sampling is seeded per prompt from its tokens, as
there. Option probabilities are exact for multi-token options: each option is
appended to the prompt and its tokens' log-probabilities read back with
``prompt_logprobs`` (one request per option; the shared prompt hits the prefix
cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl

from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import tree_hash
from constitutional.core.seeding import seed_for
from constitutional.models.base import Conversation, SamplingParams, truncate_at_stop
from constitutional.models.hf import encode_conversation, load_tokenizer, normalize_logprobs

INSTALL_HINT = "install it with: pip install 'constitutional[vllm]' (a CUDA machine)"


def parse_location(location: str) -> tuple[Path, dict]:
    """``"/m?tensor_parallel_size=2&enforce_eager=true" -> (Path("/m"), {"tensor_parallel_size": 2, "enforce_eager": True})``"""
    path, _, query = location.partition("?")
    opts: dict = {}
    for key, text in parse_qsl(query, keep_blank_values=True):
        low = text.lower()
        if low in ("true", "false"):
            opts[key] = low == "true"
        else:
            try:
                opts[key] = int(text)
            except ValueError:
                try:
                    opts[key] = float(text)
                except ValueError:
                    opts[key] = text
    return Path(path), opts


class VLLMGenerator:
    def __init__(self, path: Path, options: dict, name: str, trust_remote_code: bool = False):
        try:
            import vllm
        except ImportError:
            raise ConstitutionalError("the vllm backend needs the vllm package", field="model", hint=INSTALL_HINT) from None
        self.name, self.path = name, path
        self.tokenizer = load_tokenizer(path, trust_remote_code)
        self._vllm = vllm
        kw = {"enable_prefix_caching": True, "trust_remote_code": trust_remote_code, **options}
        self.llm = vllm.LLM(model=str(path), tokenizer=str(path), **kw)

    def encode(self, conv: Conversation) -> list[int]:
        return encode_conversation(self.tokenizer, conv)

    def generate(self, conversations: Sequence[Conversation], params: SamplingParams) -> list[str]:
        encoded = [self.encode(c) for c in conversations]
        sampling = [self._vllm.SamplingParams(
            max_tokens=params.max_new_tokens, temperature=params.temperature,
            top_p=params.top_p if params.temperature > 0 else 1.0, seed=seed_for(params.seed, ids),
            stop=list(params.stop) or None, repetition_penalty=params.repetition_penalty) for ids in encoded]
        outs = self.llm.generate([{"prompt_token_ids": ids} for ids in encoded], sampling, use_tqdm=False)
        return [truncate_at_stop(o.outputs[0].text, params.stop).strip() for o in outs]

    def option_probs(self, conversations: Sequence[Conversation], options: Sequence[str]) -> list[list[float]]:
        opt_ids = [self.tokenizer(o, add_special_tokens=False)["input_ids"] for o in options]
        if any(not o for o in opt_ids):
            raise ValueError("options must be non-empty strings")
        encoded = [self.encode(c) for c in conversations]
        prompts = [{"prompt_token_ids": ids + o} for ids in encoded for o in opt_ids]
        one = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outs = self.llm.generate(prompts, one, use_tqdm=False)
        result = []
        for i, ids in enumerate(encoded):
            row = []
            for j, o in enumerate(opt_ids):
                # prompt_logprobs[k] is {token id: Logprob} for the prompt's k-th token (None for the first)
                plp = outs[i * len(opt_ids) + j].prompt_logprobs
                row.append(sum(plp[len(ids) + k][t].logprob for k, t in enumerate(o)))
            result.append(normalize_logprobs(row))
        return result


class _Backend:
    """The ``vllm`` entry of the ``constitutional.backends`` entry-point group."""

    def load(self, location: str, *, trust_remote_code: bool = False, dtype: str = "auto", **_) -> VLLMGenerator:
        path, opts = parse_location(location)
        if dtype != "auto":
            opts.setdefault("dtype", dtype)
        return VLLMGenerator(path, opts, f"vllm:{location}", trust_remote_code)

    def identity(self, location: str) -> str:
        path, opts = parse_location(location)
        return f"vllm[{sorted(opts.items())}]@{tree_hash(path)}"

    def check(self, location: str) -> None:
        path, _ = parse_location(location)
        if not (path / "config.json").is_file():
            raise ConstitutionalError("no model here (config.json is missing)", file=path, field="model",
                                      hint="vllm:PATH takes a local checkpoint directory (nothing is fetched)")


BACKEND = _Backend()
