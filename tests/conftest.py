"""Shared fixtures: a tiny random Llama with the embedded model's tokenizer,
and a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from constitutional.models.embedded import converted_dir

    return converted_dir()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer, 64-wide Llama (3.2M params, mostly embeddings) built from a
    config, with SmolLM2's tokenizer and chat template, saved as safetensors.
    initializer_range=0.1: at the default 0.02 greedy decoding emits only
    newlines, which would make generation tests vacuous."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(embedded_dir))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, initializer_range=0.1, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir_b(tmp_path_factory, tiny_model_dir) -> Path:
    """The tiny model with every weight nudged by seeded noise: a second,
    different model of the same shape (evaluations and calibration compare two)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    out = tmp_path_factory.mktemp("tiny-llama-b")
    model.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(str(out))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn serving an ASGI app on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def tiny_generator(tiny_model_dir):
    from constitutional.models.hf import TransformersGenerator

    return TransformersGenerator(tiny_model_dir, dtype="float32", batch_size=4)


@pytest.fixture(scope="session")
def tiny_server(tiny_generator):
    from constitutional.models.serve import create_app

    with ServerThread(create_app(tiny_generator, "tiny")) as srv:
        yield srv


def _pg_binary(name: str) -> str | None:
    import glob
    import shutil

    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster on loopback (initdb + pg_ctl, as the postgres user when run as root).
    Skipped where PostgreSQL is not installed, unless CONSTITUTIONAL_REQUIRE_POSTGRES=1 (CI), where it fails."""
    import os
    import shutil
    import subprocess

    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        if os.environ.get("CONSTITUTIONAL_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (CONSTITUTIONAL_REQUIRE_POSTGRES=1) but initdb/pg_ctl are missing")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="constitutional-pg-"))  # not under pytest's 0700 tmp: postgres must enter it
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "guard", "--no-sync"], check=True,
                   capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                    f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], check=True,
                   capture_output=True)
    try:
        yield f"postgresql+psycopg://guard@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
