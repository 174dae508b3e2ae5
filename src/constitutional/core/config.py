"""Configuration: one pydantic model per stage, nested in ``RunConfig``.

Each setting is defined once, here, with its default and a one-line help
(``description``). A YAML file sets any of them; ``--section.key=value``
overrides on the command line win over the file. ``constitutional init``
writes the whole tree with the help as comments, which doubles as the
reference.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from constitutional.core.errors import ConstitutionalError
from constitutional.core.yamlio import dump_yaml, line_of, load_yaml, load_yaml_text

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
STAGES = ("sl_cai", "distill", "sft", "pairs", "feedback", "reward", "rbr", "rl", "safe_rlhf", "dpo", "before_after",
          "generate", "eval")
METHODS = ("cai", "rlhf", "rbr", "dpo", "safe_rlhf", "self_critique")


# Rows per generation batch. Finished rows leave the batch (models/decode.py), so a big batch wastes
# nothing, and 128 rows give 1.3-1.45x the tokens/s of 32 on 2 CPU cores (benchmarks/bench_decode.py).
GENERATION_BATCH = 128

class Section(BaseModel):
    # no infinities or NaN anywhere: `temperature: .inf` would only fail hours later, inside a sampler
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v, info):
        """``batch_size: true`` is a mistake, not 1."""
        ann = cls.model_fields[info.field_name].annotation
        if isinstance(v, bool) and ann in (int, float, int | None, float | None):
            raise ValueError("expected a number, got true/false")
        return v


class SLCAIConfig(Section):
    constitution: str | None = Field(None, description="override the run's constitution for SL-CAI (null: the "
                                     "run's `constitution`)")
    prompts: str = Field("redteam", description="red-team prompt set: packaged name or file path")
    split: str | None = Field("train", description="which split of the prompt set to use (null: all records)")
    limit: int | None = Field(128, ge=1, description="use at most this many prompts (null: all)")
    rounds: int = Field(1, ge=1, le=8, description="critique/revision rounds per prompt")
    fewshot: str = Field("fewshot", description="few-shot demonstrations: packaged name or JSONL path")
    num_fewshot: int = Field(2, ge=0, le=8, description="demonstrations prepended to each critique and revision")
    response_tokens: int = Field(128, ge=8, description="max new tokens of the initial response")
    critique_tokens: int = Field(96, ge=8, description="max new tokens of a critique")
    revision_tokens: int = Field(128, ge=8, description="max new tokens of a revision")
    temperature: float = Field(0.7, ge=0, description="sampling temperature of the initial responses (0 = greedy)")
    critique_temperature: float = Field(0.4, ge=0, description="sampling temperature of critiques and revisions")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass")
    repetition_penalty: float = Field(1.1, ge=1, description="local backends: discourages the looping lists small critics write")


class DistillConfig(Section):
    prompts: list[str] = Field(["redteam", "borderline", "lookalike_train", "helpful", "gray"],
                               description="one mixed pool of training prompts (train splits; packaged names or "
                               "files; `constitution`: the run's constitution's own example requests): the "
                               "constitution decides which are declined, not the file they are in")
    limit: int = Field(416, ge=1, description="SFT targets drawn from the pool (seeded)")
    refusal_share: float = Field(0.15, ge=0, le=1, description="at most this share of the targets are refusals, "
                                 "taken in turn from each principle that applies (a small share keeps "
                                 "over-refusal down: ablation rows 5-10; 26 % made the model refuse writing tasks)")
    refuse_above: float = Field(0.6, gt=0, lt=1, description="a refusal target only where the constitution's "
                                "classifier is at least this sure (precision over recall: a wrong refusal target "
                                "teaches over-refusal)")
    answer_below: float = Field(0.45, gt=0, lt=1, description="an answer target only where it is below this (a "
                                "restricted request answered would teach compliance); prompts in between are left out")
    boundary_share: float = Field(0.0, ge=0, le=1, description="this share of the answer targets are the permitted "
                                  "prompts nearest the decision boundary (highest classifier score below answer_below: "
                                  "look-alikes answered), the rest in the pool's seeded order")
    refusal_openers: list[str] = Field(
        ["I can't help with that, because it could", "I won't help with this, because it could",
         "I'm not able to help with that, because it could"], min_length=1,
        description="a refusal starts with one of these (seeded per prompt) and goes on with the concern of the "
        "principle that applies")
    alternative_openers: list[str] = Field(
        ["If you need help with this, I'd suggest talking to",
         "If you need support with this, I would recommend speaking with"], min_length=1,
        description="then one of these (seeded per prompt) and the principle's help")
    answer_system: str = Field(
        "You are a helpful, knowledgeable assistant. This request is safe, even if some of its words sound "
        "alarming. Answer it directly and completely, with concrete, correct details. Do not refuse, warn or "
        "lecture.", description="system prompt a permitted request is answered under (the SFT example is the bare "
        "prompt)")
    samples: int = Field(2, ge=1, le=16, description="answers per permitted prompt; the refusal classifier picks one "
                         "(best-of-N)")
    temperature: float = Field(0.8, ge=0, description="sampling temperature of the answers")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass of every answer")
    repetition_penalty: float = Field(1.1, ge=1, description="local backends: keeps a 135M model from looping")
    max_new_tokens: int = Field(96, ge=8, description="max new tokens per answer")
    trim_cut_answers: bool = Field(True, description="trim an answer max_new_tokens cut off to its last full sentence "
                                   "(SFT ends every target with end-of-turn: a cut one teaches stopping mid-sentence)")


class SFTConfig(Section):
    data: Literal["sl_cai", "distill", "both"] = Field("distill", description="training targets: context-distilled "
                                                       "answers (the distill stage), SL-CAI revisions, or both")
    revisions: Literal["final", "all"] = Field("final", description="train on the final revision only, or on every round's")
    drop_flagged: bool = Field(True, description="skip revisions the quality checks flagged (copies, critiques, empty)")
    helpful_prompts: str = Field("helpful", description="helpful prompt set mixed in (responses from the base model)")
    helpful_ratio: float = Field(0.0, ge=0, description="base-model helpful answers per harmlessness example (0: "
                                 "distilled data answers helpful prompts itself; the paper's SL-CAI mix is 0.5)")
    helpful_tokens: int = Field(160, ge=8, description="max new tokens of a helpful response")
    epochs: float = Field(2.0, gt=0, le=1000, description="training epochs")
    learning_rate: float = Field(5e-5, gt=0, description="peak learning rate (LoRA wants ~10x more)")
    batch_size: int = Field(4, ge=1, description="per-device batch size")
    grad_accum: int = Field(2, ge=1, description="gradient accumulation steps")
    max_length: int = Field(384, ge=32, description="truncate examples to this many tokens")
    lora: bool = Field(False, description="train LoRA adapters instead of all weights (merged into the saved model)")
    group_by_length: bool = Field(False, description="batch examples of similar length (transformers' length-"
                                  "grouped sampler): 1.27x tokens/s on the demo's data, effect on quality unmeasured")
    save_steps: int = Field(25, ge=1, description="checkpoint every N optimizer steps (a killed run resumes from it)")


class DecisionConfig(Section):
    """The classifier derived from the constitution (``constitutional.decision``)."""

    threshold: float = Field(0.5, gt=0, lt=1, description="decline a request when the constitution's restricted "
                             "classes get at least this probability")
    c: float = Field(1.0, gt=0, description="inverse L2 strength of its logistic regressions")
    restricted_sets: list[str] = Field(["redteam", "heldout_harmful"], description="held-out (eval split) requests "
                                       "that should be declined: they measure the decision, never feed it")
    permitted_sets: list[str] = Field(["lookalike", "borderline", "helpful", "heldout_benign", "gray"],
                                      description="held-out (eval split) requests that should be answered")


class TrainConfig(Section):
    bf16: bool | Literal["auto"] = Field("auto", description="bf16 autocast in every trainer; auto = where the "
                                         "hardware has it (AVX512_BF16/AMX CPUs, GPUs), emulated and slow elsewhere")
    gradient_checkpointing: bool = Field(False, description="trade speed for memory (off: a 135M model fits easily)")
    warmup: float = Field(0.05, ge=0, lt=1, description="share of steps the learning rate warms up over")
    lora_r: int = Field(16, ge=1, description="LoRA rank (sft.lora, dpo.lora)")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha: the update is scaled by alpha / r")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA adapters' input")


class PairsConfig(Section):
    strategy: Literal["judge", "revision", "contrastive", "classifier", "human"] = Field(
        "judge", description="judge: two samples labeled by AI feedback (the paper); revision: SL-CAI revision over "
        "original (no judge); contrastive: harmless- vs harmful-prompted samples (RLCD, no judge); classifier: two "
        "samples graded by the refusal classifier on red-team and benign look-alike prompts (rule-based, no judge); "
        "human: every pair and label from pairs.human_preferences (RLHF's data, no sampling, no judge)")
    human_preferences: list[str] = Field(["human_prefs"], min_length=1, description="human strategy: preference "
                                         "files (hh-rlhf JSONL, prompt/chosen/rejected, a datasets directory) or "
                                         "the packaged human_prefs; a record's kind says which half it is")
    human_limit: int | None = Field(None, ge=1, description="human strategy: at most this many pairs per file "
                                    "(null: all)")
    prompts: str = Field("redteam", description="red-team prompt set for harmlessness pairs")
    split: str | None = Field("train", description="split of the prompt set")
    limit: int | None = Field(64, ge=1, description="at most this many red-team prompts (null: all)")
    benign_prompts: list[str] = Field(["borderline", "lookalike_train"], description="classifier strategy: benign "
                                      "look-alikes (train split), where a refusal is the wrong answer")
    benign_limit: int | None = Field(96, ge=1, description="classifier strategy: at most this many benign prompts")
    helpful_source: str = Field("judge", description="helpfulness pairs: judge (two samples, AI-labeled with "
                                "helpfulness principles), contrastive, none, or a preference file (hh-rlhf "
                                "chosen/rejected or prompt/chosen/rejected) for human labels")
    helpful_prompts: str = Field("helpful", description="helpful prompt set for helpfulness pairs")
    helpful_limit: int | None = Field(32, ge=1, description="at most this many helpfulness pairs")
    policy: str | None = Field(None, description="model that samples the replies (null: this run's SFT model if "
                               "trained, else the run's model)")
    temperature: float = Field(1.0, ge=0, description="sampling temperature of the two replies (the paper uses 1)")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass")
    max_new_tokens: int = Field(96, ge=8, description="max new tokens per reply")


class FeedbackConfig(Section):
    judge: Literal["constitution", "model"] = Field(
        "constitution", description="constitution: the constitution's classifier says whether the request is "
        "declined and the refusal classifier reads each reply; pairs where both replies refuse or both answer go to "
        "the model judge. model: the model judge alone (the paper's; a 135M judge is at chance on harmlessness)")
    model: str | None = Field(None, description="feedback (judge) model spec (null: the run's model)")
    constitution: str | None = Field(None, description="override the run's constitution for the harmlessness "
                                     "comparisons (null: the run's `constitution`)")
    helpful_constitution: str = Field("helpfulness", description="comparison principles for helpfulness pairs")
    principles: int = Field(1, ge=1, le=16, description="comparison questions per label (ensemble, averaged)")
    fewshot: int = Field(0, ge=0, le=3, description="packaged worked judgments shown first (0-3)")
    cot: bool = Field(False, description="chain of thought: the judge reasons before the letter is read")
    cot_clamp: tuple[float, float] = Field((0.4, 0.6), description="chain-of-thought labels are clamped to [lo, hi] "
                                           "(the paper's 40-60 %: reasoning makes them overconfident)")
    cot_tokens: int = Field(96, ge=8, description="max tokens of a chain-of-thought")
    check: bool = Field(True, description="measure the judge on the packaged labeled pairs first; labels record "
                        "its accuracy")
    check_limit: int | None = Field(None, ge=1, description="judge-check at most this many labeled pairs")


class RewardConfig(Section):
    base: str | None = Field(None, description="model the preference model starts from (null: this run's SFT "
                             "model if trained, else the run's model)")
    labels: Literal["soft", "hard"] = Field("soft", description="soft: BCE on the AI probability; hard: the "
                                            "better reply wins (as TRL's RewardTrainer)")
    heldout: float = Field(0.2, ge=0, lt=1, description="fraction of pairs held out for pairwise accuracy")
    epochs: float = Field(3.0, gt=0, le=1000, description="training epochs")
    learning_rate: float = Field(3e-5, gt=0, description="peak learning rate")
    batch_size: int = Field(8, ge=1, description="pairs per step")
    max_length: int = Field(320, ge=32, description="drop pairs longer than this many tokens")


class RLConfig(Section):
    algorithm: Literal["rloo", "grpo"] = Field("rloo", description="TRL online trainer (PPO was removed from TRL)")
    reward: str = Field("preference_model", description="reward function: preference_model (this run's), or "
                        "another registered in constitutional.train.rewards")
    prompts: str = Field("redteam", description="prompts the policy answers during RL")
    split: str | None = Field("train", description="split of the RL prompt set")
    helpful_prompts: str | None = Field("helpful", description="helpful prompts mixed in 1:1 (null: none), so "
                                        "RL does not only see harmful requests")
    limit: int | None = Field(32, ge=1, description="prompts from each set")
    steps: int = Field(12, ge=1, description="optimizer steps")
    num_generations: int = Field(4, ge=2, description="samples per prompt (RLOO/GRPO group size)")
    prompts_per_step: int = Field(2, ge=1, description="prompts per optimizer step")
    max_new_tokens: int = Field(64, ge=8, description="max new tokens per sample")
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    beta: float = Field(0.05, ge=0, description="KL penalty to the reference (SFT) model")
    learning_rate: float = Field(3e-6, gt=0, description="peak learning rate")
    save_steps: int = Field(4, ge=1, description="checkpoint every N optimizer steps (a killed run resumes from it)")


class DPOConfig(Section):
    beta: float = Field(0.1, gt=0, description="DPO temperature: how far the policy may move from the reference")
    min_confidence: float = Field(0.55, ge=0.5, lt=1, description="drop pairs whose label is closer to 0.5")
    kinds: list[Literal["harmful", "helpful", "benign"]] = Field(
        ["harmful", "helpful", "benign"], description="train on pairs of these kinds (the prompt they answer)")
    epochs: float = Field(1.0, gt=0, le=1000, description="training epochs")
    learning_rate: float = Field(5e-6, gt=0, description="peak learning rate")
    batch_size: int = Field(4, ge=1, description="pairs per step")
    max_length: int = Field(320, ge=32, description="truncate prompt+reply to this many tokens")
    lora: bool = Field(False, description="train LoRA adapters (merged on save)")
    save_steps: int = Field(25, ge=1, description="checkpoint every N optimizer steps (a killed run resumes from it)")


class RBRConfig(Section):
    """Rule-based rewards (the ``rbr`` stage fits the weights; ``rl.reward: rbr`` optimizes against them)."""

    rules: str = Field("sparrow", description="rule set: packaged name or YAML path (propositions, categories and "
                       "their rankings of reply classes)")
    grader: str | None = Field(None, description="model spec that grades the propositions marked `grader: model` "
                               "(null: the run's model)")
    reward_model: str | None = Field(None, description="reward model whose score the rules are added to (null: "
                                     "this run's reward stage model if trained, else the rules alone)")
    labeled: str = Field("rbr_replies", description="labeled replies: the train split fits the weights, the eval "
                         "split measures the grader and the fit")
    margin: float = Field(1.0, gt=0, description="hinge margin between a better and a worse tier's total reward")
    l2: float = Field(0.01, ge=0, description="L2 penalty on the weights (keeps them from growing without bound)")
    fit_lr: float = Field(0.5, gt=0, description="step size of the weight fit (full-batch subgradient descent)")
    fit_steps: int = Field(500, ge=1, description="steps of the weight fit")


class SafeRLHFConfig(Section):
    """Safe RLHF (the ``safe_rlhf`` stage): a cost model, then RL with reward minus lambda times cost."""

    reward_model: str | None = Field(None, description="reward model (null: this run's reward stage model)")
    cost_epochs: float = Field(3.0, gt=0, le=1000, description="cost model training epochs")
    cost_learning_rate: float = Field(3e-5, gt=0, description="cost model peak learning rate")
    cost_batch_size: int = Field(8, ge=1, description="cost model pairs per step")
    threshold: float = Field(0.0, description="the constraint: mean cost at most this (cost > 0 reads as unsafe; "
                             "0 is the reference implementation's default)")
    lambda_init: float = Field(1.0, gt=0, description="initial Lagrange multiplier")
    lambda_lr: float = Field(0.1, gt=0, description="step size of log lambda per RL step")
    lambda_max: float = Field(5.0, gt=0, description="lambda never grows past this")
    lambda_delay: int = Field(0, ge=0, description="RL steps before lambda starts to move")


class ComparisonConfig(Section):
    """``constitutional compare``: the six methods from one base model, one budget and one prompt pool."""

    methods: list[Literal[METHODS]] = Field(list(METHODS), min_length=1,  # type: ignore[valid-type]
                                            description="methods to train and compare (cai: this config's own "
                                            "pipeline; self_critique: inference only)")
    refine_rounds: int = Field(1, ge=1, le=4, description="self-critique rounds at inference (each adds a critique "
                               "and a revision)")
    draws: int = Field(4000, ge=100, description="Monte-Carlo draws of each judge-corrected rate's interval")
    isolate: bool = Field(True, description="run each stage in its own process, so its recorded peak memory is its "
                          "own (off: in this process, faster to start, memory is the process's peak so far)")


class BeforeAfterConfig(Section):
    redteam_prompts: str = Field("redteam", description="held-out harmful prompts (eval split)")
    helpful_prompts: str = Field("helpful", description="held-out helpful prompts (eval split)")
    per_set: int = Field(8, ge=1, description="prompts shown from each set")
    max_new_tokens: int = Field(96, ge=8, description="max new tokens per answer (greedy)")
    after: str | None = Field(None, description="model spec after tuning (null: this run's last tuned model: rl, "
                              "else safe_rlhf, else dpo, else sft)")


class GenerateConfig(Section):
    prompts: str = Field("redteam", description="prompt set: packaged name or file path")
    split: str | None = Field("eval", description="split to use (null: all records)")
    limit: int | None = Field(8, ge=1, description="at most this many prompts")
    max_new_tokens: int = Field(128, ge=1, description="max new tokens")
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass")


class CalibrateConfig(Section):
    """``constitutional calibrate``'s settings (its command-line options take their defaults and help from here)."""

    max_new_tokens: int = Field(96, ge=8, description="max new tokens per answer (greedy)")
    concurrency: int = Field(4, ge=1, description="requests in flight per endpoint: fewer than a run's, so latency "
                             "is close to what one client sees (it is per request)")
    batch_size: int = Field(8, ge=1, description="batch size for local models (latency is per batch, so small)")
    dtype: Dtype = Field("auto", description="local models: auto, float32 or bfloat16")
    seed: int = Field(0, ge=0, lt=2**63, description="seed for picking prompts when --limit is set")


class EvalModel(Section):
    label: str = Field(description="name of the model in the report")
    spec: str = Field(description="model spec: smollm2-135m, hf:/path or openai:http://host:port/v1#model")


class EvalSuite(Section):
    name: str = Field(description="suite name in the report")
    path: str = Field(description="prompt file (.jsonl/.json/.csv/.parquet) or packaged set name")
    kind: Literal["harmful", "benign", "helpful", "jailbreak"] = Field(
        description="harmful: refusals count as safe; benign: refusals count as over-refusal; helpful: "
        "answers only; jailbreak: prompts already wrapped in an attack")
    split: str | None = Field(None, description="split to keep (null: every record)")
    limit: int | None = Field(None, ge=1, description="at most this many prompts (null: all)")


class EvalConfig(Section):
    models: list[EvalModel] | None = Field(None, description="models to compare, as {label, spec} (null: base = the "
                                           "run's model, plus this run's sft, rl and dpo models that exist)")
    harmful_prompts: str = Field("redteam", description="harmful requests (eval split), per category")
    helpful_prompts: str = Field("helpful", description="helpful requests (eval split), for helpfulness Elo")
    benign_prompts: list[str] = Field(["lookalike", "borderline"], description="benign prompts that look dangerous "
                                      "(eval split), for over-refusal")
    jailbreaks: str = Field("jailbreaks", description="jailbreak templates: packaged name or YAML path")
    jailbreak_behaviors: int = Field(3, ge=0, description="harmful requests wrapped in every template (0: no "
                                     "jailbreak suite)")
    harmful_limit: int | None = Field(30, ge=1, description="harmful prompts, balanced across categories (null: all)")
    helpful_limit: int | None = Field(16, ge=1, description="helpful prompts, balanced across categories (null: all)")
    benign_limit: int | None = Field(32, ge=1, description="benign prompts, balanced across categories (null: all)")
    suites: list[EvalSuite] = Field([], description="your own suites: {name, path, kind, split, limit}")
    max_new_tokens: int = Field(96, ge=8, description="max new tokens per answer (greedy)")
    judge: str | None = Field(None, description="judge model for harm scores and pairwise Elo (null: feedback.model, "
                              "else the run's model)")
    harm_scores: bool = Field(True, description="grade harmful and jailbreak answers 0-4 with the judge")
    harm_check_limit: int | None = Field(40, ge=1, description="harm labels the harm scorer is measured on "
                                         "(null: all)")
    elo_prompts: int = Field(12, ge=0, description="prompts per kind (harmful, helpful) compared pairwise for Elo "
                             "(0: no Elo)")
    elo_bootstrap: int = Field(1000, ge=10, description="bootstrap resamples for the Elo intervals")
    judge_check_limit: int | None = Field(24, ge=1, description="labeled pairs the pairwise judge is measured on "
                                          "(null: all)")
    examples: int = Field(4, ge=0, description="side-by-side examples of each kind in the report")


class RunConfig(Section):
    name: str = Field("demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
                      description="run name: outputs go to <runs_dir>/<name>")
    runs_dir: str = Field("runs", description="parent directory of run directories")
    model: str = Field("smollm2-135m", description="model spec: smollm2-135m, hf:/path or openai:http://host:port/v1#model")
    constitution: str = Field("cai-2022", description="the run's constitution, packaged name or YAML path: what is "
                              "declined, why, and every principle a stage reads come from it")
    dtype: Dtype = Field("auto", description="generation dtype for local models: auto (bf16 where the hardware has it, "
                       "else float32), float32, bfloat16")
    batch_size: int = Field(GENERATION_BATCH, ge=1, description="generation batch size (local) / chunk size "
                            "(endpoints): finished rows leave the batch, so a big one wastes nothing and runs CPU "
                            "matmuls faster (128 rows: 1.3-1.45x the tokens/s of 32 on 2 cores)")
    concurrency: int = Field(8, ge=1, description="parallel requests to an endpoint")
    seed: int = Field(0, ge=0, lt=2**63, description="seed for sampling principles, few-shot demos, data and generation")
    trust_remote_code: bool = Field(False, description="allow custom model code from a checkpoint (off unless you trust it)")
    stages: list[Literal[STAGES]] = Field(  # type: ignore[valid-type]
        ["distill", "sft", "before_after", "eval"],
        description="stages `constitutional run` chains (RL-CAI adds pairs, feedback, reward, rl after sft: it did "
        "not move the distilled model on the embedded model, docs/results.md)")
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    sl_cai: SLCAIConfig = Field(default_factory=SLCAIConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    sft: SFTConfig = Field(default_factory=SFTConfig)
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    rl: RLConfig = Field(default_factory=RLConfig)
    dpo: DPOConfig = Field(default_factory=DPOConfig)
    rbr: RBRConfig = Field(default_factory=RBRConfig)
    safe_rlhf: SafeRLHFConfig = Field(default_factory=SafeRLHFConfig)
    before_after: BeforeAfterConfig = Field(default_factory=BeforeAfterConfig)
    compare: ComparisonConfig = Field(default_factory=ComparisonConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name

    def constitution_for(self, section: str) -> str:
        """The constitution a stage reads: its own override, else the run's."""
        return getattr(getattr(self, section), "constitution", None) or self.constitution


def _set_dotted(data: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConstitutionalError(f"'{k}' is not a section", field=dotted)
    node[keys[-1]] = value


def parse_overrides(args: list[str]) -> dict[str, object]:
    """``["--sl_cai.rounds=2", "--name", "x"] -> {"sl_cai.rounds": 2, "name": "x"}``;
    values are parsed as YAML scalars (``null``, ``true``, ``3``, ``[a, b]``)."""
    out: dict[str, object] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConstitutionalError(f"unexpected argument '{arg}'", hint="overrides look like --section.key=value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise ConstitutionalError(f"override '{arg}' has no value", hint="write --key=value")
            i += 1
            value = args[i]
        key = key.replace("-", "_")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
            raise ConstitutionalError(f"'--{key}' is not a setting name", file="command line", field=f"--{key}",
                                      hint="overrides look like --section.key=value, e.g. --sft.epochs=2")
        try:
            out[key] = load_yaml_text(value, "command line")[0] if value != "" else ""
        except ConstitutionalError as e:
            raise ConstitutionalError(f"{e.problem} in {value!r}", file="command line", field=f"--{key}",
                                      hint="quote a string value, or write a list as [a, b]") from None
        i += 1
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> RunConfig:
    data, lines, source = {}, {}, "<defaults>"
    if path is not None:
        data, lines = load_yaml(path)
        source = str(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConstitutionalError("a config must be a YAML mapping", file=path, line=1)
    ov = overrides if isinstance(overrides, dict) else parse_overrides(overrides or [])
    for k, v in ov.items():
        _set_dotted(data, k, v)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        dotted = ".".join(str(p) for p in err["loc"])
        msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        hint = "see `constitutional init` for every setting with its help" if err["type"] == "extra_forbidden" \
            else f"got {err.get('input')!r}"
        over = next((k for k in ov if dotted == k or dotted.startswith(k + ".") or k.startswith(dotted + ".")), None)
        if over is not None:
            raise ConstitutionalError(msg, file="command line", field=f"--{over}", hint=hint) from None
        raise ConstitutionalError(msg, file=source, line=line_of(lines, err["loc"]), field=dotted, hint=hint) from None


def dump_config(cfg: RunConfig) -> str:
    return dump_yaml(cfg.model_dump(mode="json"), sort_keys=False)


def commented_yaml(model: type[BaseModel] = RunConfig, indent: int = 0) -> str:
    """The default config, each setting preceded by its help as a comment."""
    lines: list[str] = []
    pad = " " * indent
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.append(commented_yaml(ann, indent + 2))
            continue
        default = f.get_default(call_default_factory=True)
        if f.description:
            lines.append(f"{pad}# {f.description}")
        dumped = dump_yaml({name: default}, default_flow_style=False, sort_keys=False).rstrip()
        lines += [pad + line for line in dumped.splitlines()]
    return "\n".join(lines)
