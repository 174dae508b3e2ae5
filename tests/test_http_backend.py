"""The OpenAI-compatible backend against a real server on loopback: our own
``serve`` app running the tiny model under uvicorn, and the official
``openai`` client as a second opinion on the server's wire format."""

import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from constitutional.core.errors import ConstitutionalError
from constitutional.models import SamplingParams, load_generator

from .conftest import ServerThread, free_port

CONVS = [[{"role": "user", "content": f"Question number {i}?"}] for i in range(6)]
GREEDY = SamplingParams(max_new_tokens=10, temperature=0)


def test_endpoint_generation_matches_the_local_model(tiny_server, tiny_generator):
    remote = load_generator(f"openai:{tiny_server.url}#tiny", concurrency=3)
    assert remote.generate(CONVS, GREEDY) == tiny_generator.generate(CONVS, GREEDY)


def _top_tokens(gen, conv, k):
    """The k most likely next tokens that survive a decode/encode round trip."""
    import torch

    with torch.no_grad():
        logits = gen.model(torch.tensor([gen.encode(conv)])).logits[0, -1]
    out = []
    for t in logits.argsort(descending=True).tolist():
        text = gen.tokenizer.decode([t])
        if text.strip() and gen.tokenizer(text, add_special_tokens=False)["input_ids"] == [t]:
            out.append(text)
        if len(out) == k:
            return out


def test_endpoint_option_probs_match_the_local_model(tiny_server, tiny_generator):
    remote = load_generator(f"openai:{tiny_server.url}#tiny")
    conv = CONVS[0]
    # single-token options in the server's top 20: the endpoint's first-token logprobs are exact
    options = _top_tokens(tiny_generator, conv, 3)[1:]
    (got,) = remote.option_probs([conv], options)
    (want,) = tiny_generator.option_probs([conv], options)
    assert got == pytest.approx(want, abs=1e-3)
    assert got != pytest.approx([0.5, 0.5], abs=1e-3)


def test_official_openai_client_talks_to_the_server(tiny_server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=tiny_server.url, api_key="x")
    resp = client.chat.completions.create(model="tiny", messages=CONVS[0], max_tokens=5, temperature=0,
                                          logprobs=True, top_logprobs=3)
    assert isinstance(resp.choices[0].message.content, str)
    assert len(resp.choices[0].logprobs.content[0].top_logprobs) == 3
    assert [m.id for m in client.models.list().data] == ["tiny"]


def test_retries_with_backoff_on_503_then_succeeds():
    hits = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def flaky(request: Request):
        hits.append(time.time())
        if len(hits) <= 2:
            return JSONResponse({"error": "overloaded"}, status_code=503)
        return {"choices": [{"message": {"role": "assistant", "content": "ok"}}]}

    with ServerThread(app) as srv:
        gen = load_generator(f"openai:{srv.url}#m", backoff=0.05, max_retries=3)
        assert gen.generate(CONVS[:1], GREEDY) == ["ok"]
    assert len(hits) == 3


def test_client_errors_are_not_retried_and_say_what_failed():
    hits = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def reject(request: Request):
        hits.append(1)
        return JSONResponse({"error": "no such model"}, status_code=404)

    with ServerThread(app) as srv:
        with pytest.raises(ConstitutionalError, match="HTTP 404"):
            load_generator(f"openai:{srv.url}#m", backoff=0.01).generate(CONVS[:1], GREEDY)
    assert len(hits) == 1


def test_unreachable_endpoint_is_a_clear_error():
    gen = load_generator(f"openai:http://127.0.0.1:{free_port()}/v1#m", backoff=0.01, max_retries=1, timeout=2)
    with pytest.raises(ConstitutionalError, match="failed after 2 attempts.*ConnectError") as e:
        gen.generate(CONVS[:1], GREEDY)
    assert "server is running" in str(e.value)


def test_timeouts_are_retried_then_reported():
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def slow(request: Request):
        import asyncio

        await asyncio.sleep(2)
        return {"choices": [{"message": {"role": "assistant", "content": "late"}}]}

    with ServerThread(app) as srv:
        gen = load_generator(f"openai:{srv.url}#m", timeout=0.2, backoff=0.01, max_retries=1)
        with pytest.raises(ConstitutionalError, match="Timeout"):
            gen.generate(CONVS[:1], GREEDY)


def test_stages_run_against_an_endpoint(tiny_server, tmp_path):
    """The same stages, pointed at a model behind HTTP: SL-CAI and generate."""
    from constitutional.core.config import load_config
    from constitutional.core.runs import RecordStore
    from constitutional.stages import generate, sl_cai
    from constitutional.stages.artifacts import GENERATE_SCHEMA, SL_CAI_SCHEMA

    cfg = load_config(None, {"name": "remote", "runs_dir": str(tmp_path), "model": f"openai:{tiny_server.url}#tiny",
                             "sl_cai.limit": 3, "sl_cai.response_tokens": 8, "sl_cai.critique_tokens": 8,
                             "sl_cai.revision_tokens": 8, "generate.limit": 3, "generate.max_new_tokens": 8})
    assert sl_cai.main(cfg)["prompts"] == 3
    rec = next(iter(RecordStore(cfg.run_dir / "sl_cai" / "records.jsonl", SL_CAI_SCHEMA)))
    assert rec["model"] == f"openai:{tiny_server.url}#tiny"
    generate.main(cfg)
    rows = list(RecordStore(cfg.run_dir / "generate" / "records.jsonl", GENERATE_SCHEMA))
    assert len(rows) == 3 and all(r["params"]["temperature"] == 0.0 for r in rows)


def test_server_batches_concurrent_requests(tiny_generator):
    from constitutional.models.serve import create_app

    app = create_app(tiny_generator, "tiny", window_s=0.2)
    with ServerThread(app) as srv:
        convs = [[{"role": "user", "content": f"Tell me about number {i}."}] for i in range(8)]
        got = load_generator(f"openai:{srv.url}#tiny", concurrency=8).generate(convs, GREEDY)
    assert got == tiny_generator.generate(convs, GREEDY)
    assert app.state.batcher.calls < len(convs)
