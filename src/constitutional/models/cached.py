"""A Generator that answers repeated calls from the run's call cache.

Every stage talks to its models through ``cached_model(cfg, run, spec)``: a
killed stage that reruns gets each call it already made back from
``<run>/cache.sqlite`` instead of recomputing it. Calls are keyed on the
model's identity: a local checkpoint's weights (a hash of its files), not its
path, so a checkpoint retrained in place never gets the old samples back.
"""

from __future__ import annotations

from collections.abc import Sequence

from constitutional.core.config import RunConfig
from constitutional.core.runs import CallCache, RunDir
from constitutional.models.base import Conversation, Generator, SamplingParams
from constitutional.models.registry import load_generator, model_identity


class CachedGenerator:
    """A Generator that answers repeated calls from a CallCache and stores new
    ones as soon as each batch returns. It is itself a Generator."""

    def __init__(self, inner: Generator, cache: CallCache, chunk: int = 32, identity: str | None = None):
        self.inner, self.cache, self.chunk = inner, cache, chunk
        self.name = inner.name
        self.identity = identity or inner.name  # the cache key's model part (model_identity for a spec)
        self.hits = self.misses = 0

    def generate(self, conversations: Sequence[Conversation], params: SamplingParams, progress=None) -> list[str]:
        keys = [CallCache.key("generate", self.identity, list(c), params.to_dict()) for c in conversations]
        return self._run(keys, list(conversations), lambda convs: self.inner.generate(convs, params), progress)

    def option_probs(self, conversations: Sequence[Conversation], options: Sequence[str], progress=None):
        keys = [CallCache.key("option_probs", self.identity, list(c), list(options)) for c in conversations]
        return self._run(keys, list(conversations), lambda convs: self.inner.option_probs(convs, options), progress)

    def _run(self, keys, convs, call, progress):
        found = self.cache.get_many(keys)
        self.hits += len(found)
        if progress is not None:
            progress(len(found))
        # similar lengths share a batch: less padding in local backends
        todo = sorted((i for i, k in enumerate(keys) if k not in found),
                      key=lambda i: sum(len(m["content"]) for m in convs[i]))
        self.misses += len(todo)
        for start in range(0, len(todo), self.chunk):
            idx = todo[start : start + self.chunk]
            results = call([convs[i] for i in idx])
            new = {keys[i]: r for i, r in zip(idx, results)}
            self.cache.put_many(new)
            found.update(new)
            if progress is not None:
                progress(len(idx))
        return [found[k] for k in keys]


def run_generator(cfg: RunConfig, spec: str) -> Generator:
    """``spec`` loaded with the run's settings (dtype, batch size, endpoint concurrency), uncached."""
    return load_generator(spec, dtype=cfg.dtype, batch_size=cfg.batch_size, trust_remote_code=cfg.trust_remote_code,
                          **({"concurrency": cfg.concurrency} if spec.startswith("openai:") else {}))


def cached_model(cfg: RunConfig, run: RunDir, spec: str | None = None) -> CachedGenerator:
    """``spec`` (default: the run's model), loaded with the run's settings, behind the run's cache."""
    spec = spec or cfg.model
    return CachedGenerator(run_generator(cfg, spec), run.cache(), chunk=cfg.batch_size, identity=model_identity(spec))
