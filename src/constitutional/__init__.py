"""constitutional: align open-weight language models to a written constitution,
and measure what that buys.

The public API is re-exported here; stages live in ``constitutional.stages``
and each has ``main(cfg)``.
"""

from constitutional.constitution import Constitution, Principle, load_constitution
from constitutional.core.config import RunConfig, load_config
from constitutional.core.errors import ConstitutionalError
from constitutional.models import Generator, SamplingParams, load_generator
from constitutional.prompts import PromptRecord, load_fewshot, load_prompts

__version__ = "0.1.0"

__all__ = [
    "Constitution", "ConstitutionalError", "Generator", "Principle", "PromptRecord", "RunConfig", "SamplingParams",
    "load_config", "load_constitution", "load_fewshot", "load_generator", "load_prompts",
]
