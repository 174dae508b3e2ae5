from constitutional.models.base import Conversation, Generator, Message, SamplingParams
from constitutional.models.registry import load_generator, local_path, parse_spec

__all__ = ["Conversation", "Generator", "Message", "SamplingParams", "load_generator", "local_path", "parse_spec"]
