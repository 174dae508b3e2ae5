"""A randomly initialized model with another checkpoint's architecture and
tokenizer, for timing runs on machines the real weights cannot reach (the
GPU benchmark machine takes 64 MiB of files; the embedded model is 540 MB).
Speed depends on shapes, not on weight values; what it generates is noise,
so random-model runs report throughput only.

    python benchmarks/random_model.py --like ~/.cache/constitutional/<dir> --out /tmp/rand135
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "generation_config.json")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--like", required=True, help="directory with config.json and tokenizer files")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    like, out = Path(args.like), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(like)))
    model.save_pretrained(str(out), safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (like / name).is_file():
            shutil.copy(like / name, out / name)
    print(f"random {model.config.model_type} with {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters in {out}")


if __name__ == "__main__":
    main()
