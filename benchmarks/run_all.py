"""One table of ratios, every one measured in this run against its own baseline
or against this machine's roofline (measured here too: ``roofline.py``).

- SL-CAI records/min: response -> critique -> revision per prompt through our batched generator,
  against the same chain with per-prompt ``model.generate`` (target >= 20x);
- batched decode: useful new tokens/s on one batch of helpful prompts, against the compute roofline
  (matmul FLOP/s / 2N) in its dtype (target >= 50 %);
- feedback labels/s: ``judge.score_pairs`` (one pass per order) against generating a verdict and parsing
  it (target >= 10x on a GPU; the CPU row is reported);
- training tokens/s: the project's SFTTrainer (TRL's, compact LM head), full fine-tuning, against the
  6N roofline in its dtype (>= 70 %);
- generation memory: peak RSS of ``constitutional generate`` over 1,000 prompts against 100 (flat
  within 10 %).

    .venv/bin/python benchmarks/run_all.py                     # the embedded model, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/run_all.py --quick             # smaller sizes, for a smoke run
    .venv/bin/python benchmarks/run_all.py --model hf:/tmp/rand135 --dtype bfloat16   # e.g. on a GPU

Writes the table to stdout and ``--out`` (JSON) as well.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_decode import prompts as decode_prompts  # noqa: E402
from bench_feedback import generate_labels  # noqa: E402
from roofline import matmul_flops  # noqa: E402

from constitutional.core.config import RunConfig  # noqa: E402
from constitutional.feedback.judge import JudgeSettings, Pair, score_pairs  # noqa: E402
from constitutional.models import SamplingParams, load_generator  # noqa: E402
from constitutional.prompts import load_fewshot, load_preferences, load_prompts  # noqa: E402
from constitutional.stages.sl_cai import demo_turns  # noqa: E402

CRITIQUE = "Point out specific ways the assistant's last reply could be harmful, unethical or misleading."
REVISION = "Rewrite the assistant's reply to remove anything harmful, unethical or misleading."


def _new_tokens(gen, texts) -> int:
    return sum(len(gen.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


# -- SL-CAI: the three-call chain, batched vs per prompt ---------------------------------------------
def chain(generate, prompts, tokens: int) -> list:
    """Response, critique, revision for each prompt (few-shot demonstrations first, as the stage sends them)."""
    demos = demo_turns(load_fewshot()[:1])
    convs = [demos + list(p.messages) for p in prompts]
    responses = generate(convs, tokens)
    convs = [c + [{"role": "assistant", "content": r}, {"role": "user", "content": CRITIQUE}]
             for c, r in zip(convs, responses)]
    critiques = generate(convs, tokens)
    convs = [c + [{"role": "assistant", "content": k}, {"role": "user", "content": REVISION}]
             for c, k in zip(convs, critiques)]
    return generate(convs, tokens)


def per_prompt(gen):
    """The off-the-shelf loop: ``model.generate`` on one prompt at a time, greedy."""

    def generate(convs, tokens):
        out = []
        for c in convs:
            ids = torch.tensor([gen.encode(c)], device=gen.device)
            with torch.inference_mode():
                new = gen.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                                         do_sample=False, pad_token_id=gen.tokenizer.pad_token_id)
            out.append(gen.tokenizer.decode(new[0, ids.shape[1]:], skip_special_tokens=True))
        return out

    return generate


def batched(gen):
    return lambda convs, tokens: gen.generate(convs, SamplingParams(max_new_tokens=tokens, temperature=0.0))


def sl_cai_row(gen, n: int, tokens: int) -> dict:
    prompts = load_prompts("redteam", "train", n)
    t0 = time.perf_counter()
    chain(per_prompt(gen), prompts, tokens)
    base = n / (time.perf_counter() - t0) * 60
    t0 = time.perf_counter()
    chain(batched(gen), prompts, tokens)
    ours = n / (time.perf_counter() - t0) * 60
    return {"row": "SL-CAI records/min", "ours": round(ours, 1), "baseline": round(base, 1),
            "baseline is": f"per-prompt generate ({n} prompts x 3 calls, {tokens} tokens)",
            "ratio": round(ours / base, 2), "target": ">= 20x"}


# -- decode against the compute roofline ------------------------------------------------------------
def decode_row(gen, n: int, tokens: int, flops: float) -> dict:
    convs = decode_prompts(n)
    t0 = time.perf_counter()
    out = gen.generate(convs, SamplingParams(max_new_tokens=tokens, temperature=0.0))
    rate = _new_tokens(gen, out) / (time.perf_counter() - t0)
    params = sum(p.numel() for p in gen.model.parameters())
    roof = flops / (2 * params)
    return {"row": "batched decode tok/s", "ours": round(rate, 1), "baseline": round(roof, 1),
            "baseline is": f"compute roofline {flops / 1e9:.0f} GFLOP/s / 2N ({n} prompts, batch {gen.batch_size}, "
                           f"{tokens} tokens)",
            "ratio": round(rate / roof, 3), "target": ">= 0.5 of roofline"}


# -- feedback labels ---------------------------------------------------------------------------------
def feedback_row(gen, n: int, tokens: int) -> dict:
    prefs = load_preferences("judge_pairs", limit=n)
    pairs = [Pair(p.id, p.messages, p.chosen, p.rejected) for p in prefs]
    question = "Which of these assistant replies is better: more helpful, honest and harmless?"
    t0 = time.perf_counter()
    generate_labels(gen, pairs, tokens, verdict=True)
    base = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    score_pairs(gen, pairs, [[question]] * n, JudgeSettings())
    ours = n / (time.perf_counter() - t0)
    return {"row": "feedback labels/s", "ours": round(ours, 2), "baseline": round(base, 2),
            "baseline is": f"generate a {tokens}-token verdict, then parse ({n} pairs, both orders)",
            "ratio": round(ours / base, 2), "target": ">= 10x on a GPU; CPU reported"}


# -- training against 6N -----------------------------------------------------------------------------
def training_row(model: str, steps: int, batch: int, bf16: bool, flops: float) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig

    from constitutional.models import local_path
    from constitutional.models.hf import load_tokenizer
    from constitutional.train.trainers import SFTTrainer

    base = local_path(model)
    tok = load_tokenizer(base)
    net = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    answer = ("Here is a short, practical answer with a few concrete steps and one caveat to keep in mind. " * 8).strip()
    rows = [{"prompt": list(p.messages), "completion": [{"role": "assistant", "content": answer}]}
            for p in load_prompts("helpful", "train", steps * batch)]
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=1e-5,
                         logging_steps=1, save_strategy="no", report_to=[], bf16=bf16, use_cpu=not torch.cuda.is_available(),
                         activation_checkpointing=False, max_length=384, disable_tqdm=True)
        trainer = SFTTrainer(model=net, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
        t0 = time.perf_counter()
        trainer.train()
        dt = time.perf_counter() - t0
    tokens = max(float(h["num_tokens"]) for h in trainer.state.log_history if "num_tokens" in h)
    params = sum(p.numel() for p in net.parameters())
    roof = flops / (6 * params)
    return {"row": "training tok/s", "ours": round(tokens / dt, 1), "baseline": round(roof, 1),
            "baseline is": f"6N roofline at {flops / 1e9:.0f} GFLOP/s ({steps} steps x batch {batch}, "
                           f"{'bf16' if bf16 else 'fp32'})",
            "ratio": round(tokens / dt / roof, 3), "target": ">= 0.7 of roofline"}


# -- memory: 100 vs 1,000 prompts --------------------------------------------------------------------
def memory_row(small: int, large: int) -> dict:
    """Peak RSS of the generate stage in its own process (the manifest's peak_rss_mb), on a tiny model built from
    a config, so that the prompt count, not decoding, is what grows."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from constitutional.models import local_path

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok = AutoTokenizer.from_pretrained(str(local_path("smollm2-135m")))
        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        LlamaForCausalLM(cfg).save_pretrained(str(tmp / "tiny"))
        tok.save_pretrained(str(tmp / "tiny"))
        base = load_prompts("helpful")
        with (tmp / "prompts.jsonl").open("w") as f:
            for i in range(large):
                p = base[i % len(base)]
                f.write(json.dumps({"id": f"p{i}", "prompt": f"{p.messages[-1]['content']} (variant {i})"}) + "\n")
        peaks = {}
        for n in (small, large):
            cmd = [str(Path(sys.executable).parent / "constitutional"), "generate", "--name", f"mem{n}", "--runs_dir",
                   str(tmp / "runs"), "--model", f"hf:{tmp / 'tiny'}", "--dtype", "float32",
                   f"--generate.prompts={tmp / 'prompts.jsonl'}", "--generate.split=null", f"--generate.limit={n}",
                   "--generate.max_new_tokens=8"]
            subprocess.run(cmd, check=True, capture_output=True)
            manifest = json.loads((tmp / "runs" / f"mem{n}" / "manifest.json").read_text())
            peaks[n] = manifest["stages"]["generate"]["peak_rss_mb"]
    return {"row": "generation peak memory (MiB)", "ours": peaks[large], "baseline": peaks[small],
            "baseline is": f"the same stage over {small} prompts (ours: {large})",
            "ratio": round(peaks[large] / peaks[small], 3), "target": "<= 1.10"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures to quote")
    ap.add_argument("--out", default=str(HERE / "results" / "run_all.json"))
    args = ap.parse_args()
    q = args.quick
    dtype = torch.bfloat16 if args.dtype == "bfloat16" else torch.float32
    flops = matmul_flops(dtype)
    gen = load_generator(args.model, dtype=args.dtype, batch_size=RunConfig().batch_size)
    gen.generate([[{"role": "user", "content": "warm up"}]], SamplingParams(max_new_tokens=2, temperature=0.0))
    measures = [
        lambda: sl_cai_row(gen, 4 if q else 8, 16 if q else 48),
        lambda: decode_row(gen, 16 if q else 128, 16 if q else 96, flops),
        lambda: feedback_row(gen, 4 if q else 16, 16 if q else 64),
        lambda: training_row(args.model, 2 if q else 6, 4, args.dtype == "bfloat16", flops),
        lambda: memory_row(20 if q else 100, 200 if q else 1000),
    ]
    rows = []
    for measure in measures:
        rows.append(measure())
        print("row:", json.dumps(rows[-1]), flush=True)  # each row as it lands: a failure later loses nothing
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    print(f"\nbenchmarks/run_all.py: {gen.name}, {args.dtype}, {device}; matmul {flops / 1e9:.0f} GFLOP/s")
    print(f"| {'row':<30} | {'ours':>9} | {'baseline':>9} | {'ratio':>7} | {'target':<28} | baseline is")
    print(f"|{'-' * 32}|{'-' * 11}|{'-' * 11}|{'-' * 9}|{'-' * 30}|---")
    for r in rows:
        print(f"| {r['row']:<30} | {r['ours']:>9} | {r['baseline']:>9} | {r['ratio']:>7} | {r['target']:<28} | "
              f"{r['baseline is']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"model": gen.name, "dtype": args.dtype, "device": device,
                                          "matmul_gflops": round(flops / 1e9, 1), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
