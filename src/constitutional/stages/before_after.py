"""Before/after: the base model and the run's last tuned model on a few
held-out prompts.

A quick look, not the evaluation (that is the ``eval`` stage): greedy answers
to the first ``per_set`` prompts of the *eval* split of the red-team and
helpful sets, side by side, each marked by the refusal classifier. Written to
``<run>/before_after/before_after.md`` and ``before_after.jsonl``.
"""

from __future__ import annotations

import json

from constitutional.core.config import RunConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console, progress, summary, table
from constitutional.models import SamplingParams
from constitutional.models.cached import cached_model
from constitutional.prompts import load_prompts
from constitutional.refusal import looks_like_refusal
from constitutional.stages.artifacts import begin_stage, final_model


def main(cfg: RunConfig) -> dict:
    c = cfg.before_after
    run, done = begin_stage(cfg, "before_after")
    if done is not None:
        return done
    after = c.after or final_model(run)
    if after is None:
        raise ConstitutionalError("no tuned model to show", file=run.root,
                                  hint="run the sft (and rl or dpo) stage first, or set before_after.after to a model spec")
    sets = [("harmful", load_prompts(c.redteam_prompts, "eval", c.per_set)),
            ("helpful", load_prompts(c.helpful_prompts, "eval", c.per_set))]
    prompts = [(kind, p) for kind, ps in sets for p in ps]
    params = SamplingParams(max_new_tokens=c.max_new_tokens, temperature=0.0, seed=cfg.seed)
    convs = [list(p.messages) for _, p in prompts]
    with progress("before/after answers", 2 * len(convs)) as advance:
        before_ans = cached_model(cfg, run).generate(convs, params, advance)
        after_ans = cached_model(cfg, run, after).generate(convs, params, advance)
    rows, counts = [], {"harmful": [0, 0, 0], "helpful": [0, 0, 0]}
    out_dir = run.stage_dir("before_after")
    with (out_dir / "before_after.jsonl").open("w", encoding="utf-8") as f:
        for (kind, p), b, a in zip(prompts, before_ans, after_ans):
            rb, ra = looks_like_refusal(p.prompt, b), looks_like_refusal(p.prompt, a)
            counts[kind][0] += 1
            counts[kind][1] += rb
            counts[kind][2] += ra
            f.write(json.dumps({"kind": kind, "id": p.id, "prompt": p.prompt, "before": b, "after": a,
                                "refusal_before": rb, "refusal_after": ra, "before_model": cfg.model,
                                "after_model": after}, ensure_ascii=False) + "\n")
            rows.append((kind, p.prompt[:70], _short(b) + (" [refusal]" if rb else ""),
                         _short(a) + (" [refusal]" if ra else "")))
    table(f"Before ({cfg.model}) / after ({after}) on held-out prompts", ["set", "prompt", "before", "after"], rows,
          show_lines=True)
    md = ["| set | prompt | before | after |", "|---|---|---|---|"]
    md += [f"| {k} | {pr} | {b} | {a} |" for k, pr, b, a in
           ((r[0], *(x.replace("|", "\\|").replace("\n", " ") for x in r[1:])) for r in rows)]
    (out_dir / "before_after.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    result = {f"{k} prompts refused (refusal classifier) before -> after": f"{v[1]}/{v[0]} -> {v[2]}/{v[0]}"
              for k, v in counts.items()}
    result["run directory"] = str(run.root)
    run.mark("before_after", "done", summary=result)
    console.print()
    summary("Before/after summary", result)
    return result


def _short(text: str, n: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
