"""Run directories, append-only record stores and the model-call cache.

``runs/<name>/`` holds ``config.yaml``, ``manifest.json``, one folder per
stage, and ``cache.sqlite`` with every model call made for the run. A killed
stage resumes where it stopped: finished records are read back from the
store, and the calls of unfinished ones are answered from the cache.

A rerun trusts nothing but its inputs. The manifest records, per stage, a
hash of each input (its settings, the constitution, the prompt files, the
models and upstream outputs it read; ``stages.artifacts.stage_inputs``) and,
once it is done, a hash of its outputs. ``RunDir.begin`` compares them: a
stage whose inputs changed is cleared and recomputed, and since its outputs
feed the next stage's inputs, everything downstream follows; a stage whose
inputs did not change is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constitutional.core.config import RunConfig, dump_config
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console

_HASHED: dict[tuple, str] = {}


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (memoized per path, size and mtime within the process)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHED:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        _HASHED[key] = h.hexdigest()
    return _HASHED[key]


def tree_hash(root: Path, skip: tuple[str, ...] = ()) -> str:
    """One hash of every file under ``root`` (relative path and content), skipping top-level names in ``skip``
    and trainer checkpoints."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if rel.parts[0] in skip or any(part.startswith("checkpoint-") for part in rel.parts):
            continue
        h.update(f"{rel.as_posix()}\0{file_hash(path)}\0".encode())
    return h.hexdigest()[:16]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


STAGE_METADATA = ("config.yaml",)  # files a stage folder holds that are not its outputs


@dataclass
class RunDir:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)

    def stage_dir(self, stage: str) -> Path:
        d = self.root / stage
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict:
        if self.manifest_path.is_file():
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return {"schema": "constitutional.manifest/1", "created": time.time(), "stages": {}}

    def mark(self, stage: str, status: str, **info: Any) -> None:
        """Record a stage's status; "done" also records the hash of its outputs, which downstream stages read."""
        m = self.manifest()
        entry = m["stages"].setdefault(stage, {})
        if status == "done":
            info["outputs"] = tree_hash(self.root / stage, skip=STAGE_METADATA)
        entry.update(status=status, updated=time.time(), **info)
        _atomic_write(self.manifest_path, json.dumps(m, indent=2, default=str))

    def is_done(self, stage: str) -> bool:
        return self.manifest()["stages"].get(stage, {}).get("status") == "done"

    def outputs(self, stage: str) -> str | None:
        """The hash of a finished stage's outputs (None: not done)."""
        entry = self.manifest()["stages"].get(stage, {})
        return entry.get("outputs") if entry.get("status") == "done" else None

    def begin(self, stage: str, inputs: dict[str, str]) -> dict | None:
        """Start ``stage`` with these input hashes. Returns the stored summary when the stage is done and its
        inputs are unchanged (reuse it); otherwise clears what a different input produced, or resumes what the
        same inputs left unfinished, and returns None."""
        m = self.manifest()
        entry = m["stages"].get(stage)
        old = entry.get("inputs") if entry else None
        if entry and old == inputs and entry.get("status") == "done":
            console.print(f"[bold]{stage}[/]: reused, inputs unchanged ({self.root / stage})")
            return entry.get("summary", {})
        if entry and old != inputs:
            changed = sorted(k for k in set(old or {}) | set(inputs) if (old or {}).get(k) != inputs.get(k))
            why = ", ".join(changed) if old is not None else "no record of its inputs"
            console.print(f"[bold yellow]{stage}[/]: recomputed, changed: {why}")
            for path in (self.root / stage).iterdir() if (self.root / stage).is_dir() else ():
                if path.name not in STAGE_METADATA:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            entry = None
        elif entry:
            console.print(f"[bold]{stage}[/]: resuming (inputs unchanged)")
        m["stages"][stage] = {**(entry or {}), "status": "running", "inputs": inputs, "updated": time.time()}
        _atomic_write(self.manifest_path, json.dumps(m, indent=2, default=str))
        return None

    def cache(self) -> CallCache:
        return CallCache(self.root / "cache.sqlite")


class RecordStore:
    """Append-only JSONL of records tagged with a schema. One line per record,
    flushed as written; a line cut short by a kill is dropped on open."""

    def __init__(self, path: Path, schema: str):
        self.path, self.schema = Path(path), schema
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()

    def _repair(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with self.path.open("r+b") as f:
                f.truncate(cut)

    def __iter__(self) -> Iterator[dict]:
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                if rec.get("schema") != self.schema:
                    raise ConstitutionalError(
                        f"record has schema {rec.get('schema')!r}, expected {self.schema!r}", file=self.path, line=n,
                        field="schema", hint="this file was written by another version or stage; use a new run name",
                    )
                yield rec

    def ids(self) -> set[str]:
        return {r["id"] for r in self}

    def append(self, record: dict) -> None:
        record = {"schema": self.schema, **record}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()


class CallCache:
    """sqlite map from a call's full description (model, conversation,
    sampling parameters, kind) to its result."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path)
        self.db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.db.commit()

    @staticmethod
    def key(*parts: Any) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            q = f"SELECT key, value FROM calls WHERE key IN ({','.join('?' * len(chunk))})"
            out.update({k: json.loads(v) for k, v in self.db.execute(q, chunk)})
        return out

    def put_many(self, items: dict[str, Any]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?)",
                            [(k, json.dumps(v, ensure_ascii=False)) for k, v in items.items()])
        self.db.commit()


def open_run(cfg: RunConfig, stage: str) -> RunDir:
    """The run directory, with the resolved config written twice: at the root
    (the latest command) and in the stage's folder (what produced its files,
    even when later commands on the same run change other settings)."""
    run = RunDir(cfg.run_dir)
    text = dump_config(cfg)
    (run.root / "config.yaml").write_text(text, encoding="utf-8")
    (run.stage_dir(stage) / "config.yaml").write_text(text, encoding="utf-8")
    return run
