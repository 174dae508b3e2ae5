"""Endpoint specs, the exact requests each kind of server gets, the auto probe,
and the endpoint pool under failing members (real uvicorn servers on loopback)."""

import math

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from constitutional.core.errors import ConstitutionalError
from constitutional.models import SamplingParams, load_generator
from constitutional.models.endpoint import Endpoint, parse_endpoint
from constitutional.models.http import option_keys

from .conftest import ServerThread, free_port

PARTIAL = [{"role": "user", "content": "Is this safe?"}, {"role": "assistant", "content": "The answer is: ("}]
GREEDY = SamplingParams(max_new_tokens=7, temperature=0, seed=3)


def test_specs_parse_pools_and_options():
    assert parse_endpoint("openai:http://a:1/v1|http://b:2/v1/#m?continuation=chat&key_env=VENDOR_B") == Endpoint(
        urls=("http://a:1/v1", "http://b:2/v1"), model="m", continuation="chat", key_env="VENDOR_B")
    assert parse_endpoint("openai:http://a:1/v1") == Endpoint(urls=("http://a:1/v1",))
    ep = parse_endpoint("openai:http://a/v1#m?continuation=completions&template=hf:/x/y")
    assert (ep.continuation, ep.template) == ("completions", "hf:/x/y")
    for bad, match in [("openai:http://a/v1#m?continuation=guess", "continuation must be one of"),
                       ("openai:http://a/v1#m?temprature=1", "unknown endpoint option"),
                       ("openai:http://a/v1|ftp://b#m", "bad endpoint spec"),
                       ("openai:http://a/v1|http://a/v1#m", "names a URL twice"),
                       ("openai:http://a/v1#m?continuation=completions", "needs template")]:
        with pytest.raises(ConstitutionalError, match=match):
            parse_endpoint(bad)


def test_each_endpoint_reads_its_own_key(monkeypatch):
    monkeypatch.setenv("VENDOR_A_KEY", "ka")
    assert parse_endpoint("openai:http://a/v1#m?key_env=VENDOR_A_KEY").api_key() == "ka"
    monkeypatch.delenv("VENDOR_B_KEY", raising=False)
    with pytest.raises(ConstitutionalError, match="VENDOR_B_KEY is not set"):
        parse_endpoint("openai:http://b/v1#m?key_env=VENDOR_B_KEY").api_key()


def test_option_keys_are_what_tells_options_apart():
    assert option_keys(["(A)", "(B)"]) == ["A)", "B)"]
    assert option_keys([" Yes", " No"]) == ["Yes", "No"]
    assert option_keys(["A", "B"]) == ["A", "B"]
    assert option_keys(["0", "1", "2"]) == ["0", "1", "2"]


class Recorder:
    """A server that records every request and answers like an OpenAI-compatible one."""

    def __init__(self, reply="ok", top=(("A", -0.2), ("B", -1.8))):
        self.requests: list[tuple[str, dict, dict]] = []
        self.app = FastAPI()
        lp = {"content": [{"token": top[0][0], "logprob": top[0][1],
                           "top_logprobs": [{"token": t, "logprob": v} for t, v in top]}]}

        @self.app.post("/v1/chat/completions")
        async def chat(request: Request):
            self.requests.append(("/chat/completions", await request.json(), dict(request.headers)))
            text = reply(await request.json()) if callable(reply) else reply
            return {"choices": [{"message": {"role": "assistant", "content": text}, "logprobs": lp}],
                    "usage": {"completion_tokens": 2}}

        @self.app.post("/v1/completions")
        async def completions(request: Request):
            self.requests.append(("/completions", await request.json(), dict(request.headers)))
            return {"choices": [{"text": " fine.", "logprobs": {"top_logprobs": [dict(top)]}}]}


def test_vllm_requests_continue_the_final_turn():
    rec = Recorder()
    with ServerThread(rec.app) as srv:
        gen = load_generator(f"openai:{srv.url}#m?continuation=chat")
        gen.generate([PARTIAL], GREEDY)
        (p,) = gen.option_probs([PARTIAL], ["A", "B"])
    assert rec.requests[0][:2] == ("/chat/completions", {
        "model": "m", "messages": PARTIAL, "max_tokens": 7, "temperature": 0.0, "top_p": 0.95, "seed": 3,
        "continue_final_message": True, "add_generation_prompt": False})
    assert rec.requests[1][1] == {
        "model": "m", "messages": PARTIAL, "max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": 20,
        "continue_final_message": True, "add_generation_prompt": False}
    assert p == pytest.approx([1 / (1 + math.exp(-1.6)), 1 - 1 / (1 + math.exp(-1.6))])
    # a conversation that ends with the user's turn is sent as it is, with no continuation flags
    with ServerThread(rec.app) as srv:
        load_generator(f"openai:{srv.url}#m?continuation=chat").generate([PARTIAL[:1]], GREEDY)
    assert "continue_final_message" not in rec.requests[-1][1]


def test_hosted_api_requests_fold_the_prefix_into_a_question(monkeypatch):
    monkeypatch.setenv("HOSTED_KEY", "sk-test")
    rec = Recorder(reply="The answer is: (B) because it is safe.", top=(("B", -0.1), ("A", -2.4)))
    with ServerThread(rec.app) as srv:
        gen = load_generator(f"openai:{srv.url}#gpt-x?continuation=instruct&key_env=HOSTED_KEY")
        (text,) = gen.generate([PARTIAL], GREEDY)
        (p,) = gen.option_probs([PARTIAL], ["A", "B"])
    path, body, headers = rec.requests[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert body == {"model": "gpt-x", "max_tokens": 7, "temperature": 0.0, "top_p": 0.95, "seed": 3, "messages": [
        {"role": "user", "content": "Is this safe?\n\n(Begin your reply with exactly these words, then carry on: "
                                    "The answer is: ()"}]}
    assert text == "B) because it is safe."  # the continuation after the prefix it was told to begin with
    assert rec.requests[1][1]["messages"] == [{"role": "user", "content": 'Is this safe?\n\n(Your reply begins: '
                                               '"The answer is: (". Reply with only what comes next, one of: A or B.)'}]
    assert "continue_final_message" not in rec.requests[1][1]
    assert p[1] > 0.85 and p[0] == pytest.approx(1 - p[1])


def test_completions_requests_render_the_template(tiny_model_dir, tiny_generator):
    rec = Recorder(top=(("A", -0.5), ("B", -1.0)))
    with ServerThread(rec.app) as srv:
        gen = load_generator(f"openai:{srv.url}#m?continuation=completions&template=hf:{tiny_model_dir}")
        assert gen.generate([PARTIAL], GREEDY) == ["fine."]
        gen.option_probs([PARTIAL], ["A", "B"])
    prompt = tiny_generator.tokenizer.decode(tiny_generator.encode(PARTIAL))
    assert rec.requests[0][1] == {"model": "m", "prompt": prompt, "max_tokens": 7, "temperature": 0.0,
                                  "top_p": 0.95, "seed": 3}
    assert prompt.endswith("<|im_start|>assistant\nThe answer is: (")
    assert rec.requests[1][1] == {"model": "m", "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
                                  "logprobs": 20}


@pytest.mark.parametrize(("reply", "mode"), [(" five, six", "chat"), ("One, two, three", "instruct")])
def test_auto_probes_whether_the_server_continues(reply, mode, capsys):
    rec = Recorder(reply=lambda body: reply if body["messages"][-1]["role"] == "assistant" else "ok")
    with ServerThread(rec.app) as srv:
        gen = load_generator(f"openai:{srv.url}#m")
        gen.generate([PARTIAL], GREEDY)
        gen.generate([PARTIAL], GREEDY)
    assert gen.continuation == mode
    assert sum("Count from one" in str(b) for _, b, _ in rec.requests) == 1  # probed once
    assert f"continuation={mode}" in capsys.readouterr().out


def test_auto_treats_a_refused_flag_as_no_continuation():
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def strict(request: Request):
        body = await request.json()
        if "continue_final_message" in body:
            return JSONResponse({"error": "Unrecognized request argument"}, status_code=400)
        return {"choices": [{"message": {"role": "assistant", "content": "x"}}]}

    with ServerThread(app) as srv:
        assert load_generator(f"openai:{srv.url}#m").continuation == "instruct"


def _failing_app(hits: list, status=500):
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def broken(request: Request):
        hits.append(1)
        return JSONResponse({"error": "down"}, status_code=status)

    return app


def test_pool_spreads_requests_and_routes_around_failing_members(tiny_server, tiny_generator):
    hits: list = []
    convs = [[{"role": "user", "content": f"Tell me about number {i}."}] for i in range(12)]
    with ServerThread(_failing_app(hits)) as broken, ServerThread(_failing_app([], 503)) as busy:
        dead = f"http://127.0.0.1:{free_port()}/v1"
        gen = load_generator(f"openai:{tiny_server.url}|{broken.url}|{dead}|{busy.url}#tiny", concurrency=2)
        assert gen.generate(convs, SamplingParams(max_new_tokens=6, temperature=0)) == tiny_generator.generate(
            convs, SamplingParams(max_new_tokens=6, temperature=0))
    served = {m["url"]: m for m in gen.pool.summary()}
    assert served[tiny_server.url]["served"] == 12
    assert served[dead]["served"] == 0 and served[dead]["errors"] >= 1  # its health check failed: no traffic
    # the failing member loses what was in flight to it when it first failed (its share, concurrency 2),
    # then one request after each cooldown: never the bulk of the work
    assert 1 <= len(hits) <= 4


def test_pool_spreads_load_over_healthy_members():
    counts = {"a": 0, "b": 0}

    def app_for(name):
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def ok(request: Request):
            import asyncio

            counts[name] += 1
            await asyncio.sleep(0.05)
            return {"choices": [{"message": {"role": "assistant", "content": name}}]}

        return app

    convs = [[{"role": "user", "content": str(i)}] for i in range(20)]
    with ServerThread(app_for("a")) as a, ServerThread(app_for("b")) as b:
        out = load_generator(f"openai:{a.url}|{b.url}#m", concurrency=2).generate(convs, GREEDY)
    assert sorted(set(out)) == ["a", "b"] and min(counts.values()) >= 6


def test_a_pool_with_no_live_member_fails_clearly():
    dead = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    gen = load_generator(f"openai:{dead[0]}|{dead[1]}#m", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(ConstitutionalError, match="failed after 2 attempts.*ConnectError"):
        gen.generate([PARTIAL[:1]], GREEDY)
