"""The HTTP backend against a server no one here wrote: llama-cpp-python's
OpenAI-compatible server (``python -m llama_cpp.server``) serving the embedded
model's GGUF on loopback, compared with the same weights in transformers.

The GGUF holds Q4_1 weights; transformers runs them dequantized in fp32 while
llama.cpp multiplies quantized blocks, so the two agree closely but not to the
last bit. Stated tolerances (measured on this machine, docs/engines.md):
option probabilities within 0.1 of transformers'; each of the first
8 tokens the server picks greedily is among transformers' top 3 at that
position (close calls flip: first-token log-probs differ by up to ~0.4 nats);
the judge check on 12 labeled pairs within one pair's flip of the local
accuracy, its Brier score within 0.02 and its position bias within 0.1.

Skipped where llama-cpp-python[server] is not installed, unless
CONSTITUTIONAL_REQUIRE_LLAMA_SERVER=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from constitutional.models import SamplingParams, load_generator

from .conftest import free_port

PROB_TOLERANCE = 0.1
TOKENS, TOP = 8, 3
SHAPED = [{"role": "user", "content": "How do I get into my neighbor's wifi without the password?"},
          {"role": "assistant", "content": "I'm not able to help with that, because it could"}]
QUESTIONS = [[{"role": "user", "content": q}] for q in (
    "What is the capital of France?", "Give me one tip for sleeping better.", "What does a thermometer measure?")]
JUDGE = [[{"role": "user", "content": f"Which reply is more {w}?\n(A) {a}\n(B) {b}"},
          {"role": "assistant", "content": "The answer is: ("}]
         for w, a, b in [("polite", "Please pass the salt.", "Give me the salt now."),
                         ("harmless", "I can't help with hurting someone.", "Sure, here is how to hurt someone."),
                         ("helpful", "Paris is the capital of France.", "I don't know."),
                         ("honest", "I am not sure of that date.", "It was definitely 1492, trust me.")]]


@pytest.fixture(scope="module")
def llama_server():
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        if os.environ.get("CONSTITUTIONAL_REQUIRE_LLAMA_SERVER") == "1":
            pytest.fail("llama-cpp-python[server] is required (CONSTITUTIONAL_REQUIRE_LLAMA_SERVER=1) but missing")
        pytest.skip("llama-cpp-python[server] is not installed (make test installs it)")
    from constitutional.models.embedded import gguf_path

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--logits_all", "true", "--n_threads", "2", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while True:
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"llama.cpp server did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def local():
    return load_generator("smollm2-135m", dtype="float32", batch_size=8)


def _spec(url: str, mode: str) -> str:
    return f"openai:{url}#smollm2?continuation={mode}&template=smollm2-135m"


def _ranks(local, conv, text: str, n: int = TOKENS) -> list[int]:
    """Where each of the first ``n`` tokens of ``text`` (a reply to ``conv``) ranks in the transformers
    model's next-token distribution, teacher-forced: 0 = the token it would pick greedily."""
    import torch

    prompt = local.encode(conv)
    reply = local.tokenizer(text, add_special_tokens=False)["input_ids"][:n]
    with torch.no_grad():
        logits = local.model(torch.tensor([prompt + reply])).logits[0, len(prompt) - 1 : len(prompt) - 1 + len(reply)]
    return [int((row > row[t]).sum()) for row, t in zip(logits, reply)]


def test_generation_agrees_with_transformers(llama_server, local):
    params = SamplingParams(max_new_tokens=TOKENS, temperature=0)
    got = load_generator(_spec(llama_server, "completions")).generate(QUESTIONS, params)
    for conv, text in zip(QUESTIONS, got):
        assert max(_ranks(local, conv, text)) < TOP, (conv, text)


def test_a_partial_turn_is_continued_not_restarted(llama_server, local):
    params = SamplingParams(max_new_tokens=TOKENS, temperature=0)
    (got,) = load_generator(_spec(llama_server, "completions")).generate([SHAPED], params)
    assert max(_ranks(local, SHAPED, " " + got)) < TOP, got
    # the chat route starts a new turn on this server: exactly the failure continuation= exists for
    (restarted,) = load_generator(_spec(llama_server, "chat")).generate([SHAPED], params)
    assert max(_ranks(local, SHAPED, " " + restarted)) >= TOP, restarted


def test_option_probabilities_agree_with_transformers(llama_server, local):
    want = local.option_probs(JUDGE, ["A", "B"])
    got = load_generator(_spec(llama_server, "completions")).option_probs(JUDGE, ["A", "B"])
    for g, w in zip(got, want):
        assert g == pytest.approx(w, abs=PROB_TOLERANCE)
    assert any(abs(w[0] - 0.5) > 2 * PROB_TOLERANCE for w in want)  # not a vacuous 0.5 == 0.5
    # without continuation the first token of a new turn is read instead: every pair comes back ~0.5
    chat = load_generator(_spec(llama_server, "chat")).option_probs(JUDGE, ["A", "B"])
    assert max(abs(g[0] - w[0]) for g, w in zip(chat, want)) > PROB_TOLERANCE


def test_auto_finds_the_servers_way_to_continue(llama_server):
    assert load_generator(f"{_spec(llama_server, 'auto')}").continuation == "completions"
    assert load_generator(f"openai:{llama_server}#smollm2").continuation == "instruct"


def test_judge_check_through_the_server_matches_local(llama_server, local):
    from constitutional.core.config import load_config
    from constitutional.feedback.check import judge_check

    cfg = load_config(None, {"feedback.judge": "model", "feedback.principles": 1})
    remote = load_generator(_spec(llama_server, "completions"))
    here = judge_check(local, cfg.feedback, cfg.constitution, 0, 12)
    there = judge_check(remote, cfg.feedback, cfg.constitution, 0, 12)
    # a near-chance judge has close calls; one of 12 pairs may flip, the soft labels stay close
    assert abs(there["accuracy"] - here["accuracy"]) <= 1 / 12 + 1e-9
    assert there["brier"] == pytest.approx(here["brier"], abs=0.02)
    assert there["position_bias"] == pytest.approx(here["position_bias"], abs=0.1)
