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
from constitutional.core.dist import is_main
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


def _atomic_write(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
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
            try:
                m = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ConstitutionalError(f"the run's manifest is corrupt ({e})", file=self.manifest_path,
                                          hint=f"`constitutional doctor {self.root}` moves it aside (every stage is "
                                          "then checked again against its inputs)") from None
            if not isinstance(m, dict) or not isinstance(m.get("stages"), dict):
                raise ConstitutionalError("the run's manifest has no 'stages' mapping", file=self.manifest_path,
                                          hint=f"`constitutional doctor {self.root}` moves it aside")
            return m
        return {"schema": "constitutional.manifest/1", "created": time.time(), "stages": {}}

    def mark(self, stage: str, status: str, **info: Any) -> None:
        """Record a stage's status; "done" also records the hash of its outputs, which downstream stages read."""
        m = self.manifest()
        entry = m["stages"].setdefault(stage, {})
        if status == "done":
            info["outputs"] = tree_hash(self.root / stage, skip=STAGE_METADATA)
            # what the comparison of methods reports: this session's wall time, and the process's peak memory
            # (a stage run alone, as `constitutional compare` runs each, makes that the stage's own peak)
            info["seconds"] = round(time.time() - entry.get("started", time.time()), 1)
            info["peak_rss_mb"] = peak_rss_mb()
        entry.update(status=status, updated=time.time(), **info)
        if is_main():  # under accelerate launch, the other processes only train
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
        if not is_main():  # the main process clears and records; the others wait for it (begin_stage's barrier)
            return None
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
        m["stages"][stage] = {**(entry or {}), "status": "running", "inputs": inputs, "updated": time.time(),
                              "started": time.time()}
        _atomic_write(self.manifest_path, json.dumps(m, indent=2, default=str))
        return None

    def cache(self) -> CallCache:
        return CallCache(self.root / "cache.sqlite")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB. On Linux from /proc's VmHWM: getrusage's
    ru_maxrss survives exec, so a stage process started by a big parent would report the parent's peak."""
    import resource
    import sys

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


class RecordStore:
    """Append-only JSONL of records tagged with a schema, one line per record, flushed as written.

    Reading never writes. A last line without a newline is kept if it is a
    whole record, and skipped if it is not (a line cut short by a kill); the
    next ``append`` settles it: a whole record gets its newline, a torn one
    is moved to ``<file>.torn`` (kept, never lost). A bad line anywhere else
    stops the reader with its file and line and the command that moves it
    aside (``constitutional doctor RUN``). Two records with one id are one
    record: the first.
    """

    def __init__(self, path: Path, schema: str):
        self.path, self.schema = Path(path), schema
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _hint(self) -> str:
        run = self.path.parent.parent
        return f"`constitutional doctor {run}` moves bad lines to {self.path.name}.quarantine; then run again"

    def _parse(self, n: int, raw: bytes) -> dict:
        where = dict(file=self.path, line=n, hint=self._hint())
        try:
            rec = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConstitutionalError("the line is not UTF-8 text", **where) from None
        except json.JSONDecodeError as e:
            raise ConstitutionalError(f"the line is not a JSON record ({e.msg})", **where) from None
        if not isinstance(rec, dict):
            raise ConstitutionalError("the line is not a JSON object", **where)
        if not isinstance(rec.get("id"), str):
            raise ConstitutionalError("the record has no string 'id'", field="id", **where)
        if rec.get("schema") != self.schema:
            raise ConstitutionalError(
                f"record has schema {rec.get('schema')!r}, expected {self.schema!r}", file=self.path, line=n,
                field="schema", hint="this file was written by another version or stage; use a new run name",
            )
        return rec

    def _lines(self) -> tuple[list[bytes], bytes]:
        """(complete lines, the bytes after the last newline)"""
        data = self.path.read_bytes() if self.path.is_file() else b""
        *lines, tail = data.split(b"\n")
        return lines, tail

    def _tail_record(self, n: int, tail: bytes) -> dict | None:
        try:
            return self._parse(n, tail)
        except ConstitutionalError:
            return None

    def __iter__(self) -> Iterator[dict]:
        lines, tail = self._lines()
        seen: set[str] = set()
        records = [self._parse(n, raw) for n, raw in enumerate(lines, 1) if raw.strip()]
        if tail.strip() and (last := self._tail_record(len(lines) + 1, tail)) is not None:
            records.append(last)
        for rec in records:
            if rec["id"] not in seen:
                seen.add(rec["id"])
                yield rec

    def ids(self) -> set[str]:
        return {r["id"] for r in self}

    def _settle_tail(self) -> None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb") as f:  # the common case, read in one byte: the file ends with a newline
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
        lines, tail = self._lines()
        with self.path.open("r+b") as f:
            if tail.strip() and self._tail_record(len(lines) + 1, tail) is not None:
                f.seek(0, os.SEEK_END)
                f.write(b"\n")
                return
            with self.path.with_name(self.path.name + ".torn").open("ab") as kept:
                kept.write(tail + b"\n")
            f.truncate(len(self.path.read_bytes()) - len(tail))

    def append(self, record: dict) -> None:
        self._settle_tail()
        record = {"schema": self.schema, **record}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()


def _object(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def doctor(run_dir: Path) -> list[dict]:
    """Move every unreadable line of a run's record files to ``<file>.quarantine`` (with its line number),
    and a corrupt manifest or call cache aside; what was done, one row per fix."""
    fixes = []
    for path in sorted(Path(run_dir).rglob("*.jsonl")):
        if path.name.endswith((".quarantine", ".torn")):
            continue
        data = path.read_bytes()
        *lines, tail = data.split(b"\n")
        parsed = [(n, raw, _object(raw)) for n, raw in enumerate(lines, 1) if raw.strip()]
        ids = any(isinstance(o, dict) and "id" in o for _, _, o in parsed)  # a record store: every line needs an id
        keep, bad = [], []
        for n, raw, obj in parsed:
            ok = isinstance(obj, dict) and (not ids or isinstance(obj.get("id"), str))
            (keep if ok else bad).append((n, raw))
        if bad:
            with path.with_name(path.name + ".quarantine").open("ab") as q:
                for n, raw in bad:
                    q.write(f"{n}\t".encode() + raw + b"\n")
            _atomic_write(path, b"".join(raw + b"\n" for _, raw in keep) + tail)
            fixes.append({"file": str(path), "moved": len(bad), "lines": [n for n, _ in bad]})
    manifest = Path(run_dir) / "manifest.json"
    if manifest.is_file():
        try:
            json.loads(manifest.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            manifest.rename(manifest.with_name("manifest.json.corrupt"))
            fixes.append({"file": str(manifest), "moved": 1, "lines": [], "note": "every stage will be rechecked"})
    cache = Path(run_dir) / "cache.sqlite"
    if cache.is_file():
        try:
            with sqlite3.connect(cache) as db:
                db.execute("SELECT count(*) FROM calls").fetchone()
        except sqlite3.DatabaseError:
            cache.rename(cache.with_name("cache.sqlite.corrupt"))
            fixes.append({"file": str(cache), "moved": 1, "lines": [], "note": "model calls will be made again"})
    return fixes


class CallCache:
    """sqlite map from a call's full description (model, conversation,
    sampling parameters, kind) to its result."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.commit()
        except sqlite3.DatabaseError as e:
            raise ConstitutionalError(f"the call cache is not a readable SQLite database ({e})", file=self.path,
                                      hint=f"`constitutional doctor {self.path.parent}` moves it aside (the calls "
                                      "are made again)") from None

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
    if is_main():
        text = dump_config(cfg)
        (run.root / "config.yaml").write_text(text, encoding="utf-8")
        (run.stage_dir(stage) / "config.yaml").write_text(text, encoding="utf-8")
    return run
