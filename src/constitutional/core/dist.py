"""Which process this is, when a training stage runs under ``accelerate launch``
(or ``torchrun``): one process per device, every one training, only the main
one writing the run's files.

``accelerate launch --config_file configs/accelerate/ddp-cpu.yaml $(which constitutional) sft CONFIG``
sets ``RANK`` and ``WORLD_SIZE``; TRL's trainers then wrap the model in DDP,
FSDP or DeepSpeed as the accelerate config says. A stage prepares its data on
the main process, every process trains on its shard, the main process saves
and marks the stage done.
"""

from __future__ import annotations

import os

#: stages whose work is a TRL trainer (the rest generate or score, and run in one process)
DISTRIBUTED_STAGES = ("sft", "dpo")


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    if world_size() > 1:
        import torch
        from accelerate import PartialState

        # the same shared state the trainer then uses: gloo on CPU, NCCL on GPUs
        PartialState(cpu=not torch.cuda.is_available()).wait_for_everyone()
