"""Prompt sets: packaged ones (``redteam``, ``helpful``, ``borderline``,
``lookalike``) and user files in JSONL, JSON, CSV, Parquet or a local HF
``datasets`` directory.

A record needs one of these fields (first found wins):
- ``messages``: an OpenAI-style conversation; the prompt is everything up to
  and including the last user turn;
- ``chosen``: an hh-rlhf transcript (``\\n\\nHuman: ...\\n\\nAssistant: ...``);
  the prompt is the conversation before the final assistant turn;
- ``prompt`` / ``question`` / ``instruction``: a single user turn.
Optional: ``id``, ``category``, ``split`` (``train`` or ``eval``).

Packaged sets carry fixed, disjoint train/eval splits: stages that tune read
``train``, evaluation reads ``eval``. ``lookalike`` (benign prompts that look
dangerous, for measuring over-refusal) is eval-only.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from constitutional.core.errors import ConstitutionalError
from constitutional.core.yamlio import read_text

PACKAGED = ("redteam", "helpful", "borderline", "lookalike", "lookalike_train", "gray", "heldout_harmful",
            "heldout_benign")
PREFERENCE_SETS = ("judge_pairs", "human_prefs")  # packaged preference files (load_preferences)
Message = dict[str, str]


@dataclass(frozen=True)
class PromptRecord:
    id: str
    messages: tuple[Message, ...]  # ends with a user turn
    category: str = ""
    split: str = ""

    @property
    def prompt(self) -> str:
        """The last user turn."""
        return self.messages[-1]["content"]


@dataclass(frozen=True)
class Demo:
    """One few-shot critique/revision demonstration."""

    id: str
    prompt: str
    response: str
    critique_request: str
    critique: str
    revision_request: str
    revision: str


def packaged_path(name: str) -> Path:
    return Path(str(resources.files("constitutional") / "data" / f"{name}.jsonl"))


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_hh(text: str) -> list[Message]:
    """hh-rlhf transcript -> messages. ``"\\n\\nHuman: hi\\n\\nAssistant: yo"`` ->
    ``[{user: hi}, {assistant: yo}]``."""
    if not text.startswith("\n\n"):
        text = "\n\n" + text.lstrip("\n")
    parts = _HH_TURN.split(text)
    msgs = []
    for role, content in zip(parts[1::2], parts[2::2]):
        msgs.append({"role": "user" if role == "Human" else "assistant", "content": content.strip()})
    return msgs


def read_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line or row number, record) pairs. Line numbers are 1-based file lines
    for JSONL and CSV (header is line 1), record indices for the rest."""
    suffix = path.suffix.lower()
    if path.is_dir():
        try:
            from datasets import load_from_disk

            ds = load_from_disk(str(path))
        except Exception as e:  # noqa: BLE001 - datasets raises many types here
            raise ConstitutionalError(f"not a datasets directory: {e}", file=path,
                                      hint="save it with Dataset.save_to_disk, or pass a .jsonl/.csv/.parquet file") from None
        if hasattr(ds, "keys"):  # DatasetDict: take train, else the first split
            ds = ds["train"] if "train" in ds else ds[next(iter(ds.keys()))]
        for i, row in enumerate(ds):
            yield i, row
    elif suffix == ".jsonl":
        with path.open("rb") as f:
            for n, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                yield n, _json_object(raw, path, n)
    elif suffix == ".json":
        text = read_text(path, MAX_DATA_BYTES)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConstitutionalError(f"not valid JSON ({e.msg})", file=path, line=e.lineno,
                                      hint="a .json prompt file holds one list of objects") from None
        except RecursionError:
            raise ConstitutionalError("JSON nested too deeply", file=path) from None
        if not isinstance(data, list):
            raise ConstitutionalError("a .json prompt file must hold a list of objects", file=path)
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise ConstitutionalError(f"element {i} is not an object", file=path, field=str(i),
                                          hint="each element is one record, e.g. {\"prompt\": \"...\"}")
            yield i, row
    elif suffix == ".csv":
        yield from _csv_rows(path)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as e:
            raise ConstitutionalError(f"not a readable Parquet file ({e})", file=path) from None
        yield from enumerate(rows)
    else:
        raise ConstitutionalError(f"unsupported prompt file type '{suffix}'", file=path,
                                  hint="use .jsonl, .json, .csv, .parquet or a datasets directory")


MAX_DATA_BYTES = 512 * 1024 * 1024  # a whole .json file is read at once; JSONL and CSV stream


def _json_object(raw: bytes, path: Path, n: int) -> dict:
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConstitutionalError("the line is not UTF-8 text", file=path, line=n,
                                  hint="save the file as UTF-8 (it looks like Latin-1, UTF-16 or binary)") from None
    except json.JSONDecodeError as e:
        raise ConstitutionalError(f"not valid JSON ({e.msg})", file=path, line=n,
                                  hint="each line must be one JSON object") from None
    except RecursionError:
        raise ConstitutionalError("JSON nested too deeply", file=path, line=n) from None
    if not isinstance(row, dict):
        raise ConstitutionalError("a line must be a JSON object", file=path, line=n)
    return row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """Rows with the file line each starts on; an unclosed quote or an oversized field is an error, not a
    record that swallows the rest of the file."""
    start = 2  # the line the record being read starts on (the header is line 1)
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, strict=True)
            for row in reader:
                if None in row or None in row.values():
                    raise ConstitutionalError("the row has a different number of fields than the header", file=path,
                                              line=start, hint="check the commas and quotes on that line")
                yield start, row
                start = reader.line_num + 1
    except csv.Error as e:
        raise ConstitutionalError(f"not valid CSV ({e}) in the record starting here", file=path, line=start,
                                  hint="an unclosed quote swallows everything after it; close it") from None
    except UnicodeDecodeError:
        raise ConstitutionalError("not UTF-8 text", file=path,
                                  hint="save the file as UTF-8 (it looks like Latin-1, UTF-16 or binary)") from None


ROLES = ("system", "user", "assistant")


def _messages(row: dict, path: Path, n: int) -> tuple[Message, ...]:
    where = dict(file=path, line=n)
    if row.get("messages") is not None:
        msgs = row["messages"]
        if isinstance(msgs, str):
            try:
                msgs = json.loads(msgs)
            except (json.JSONDecodeError, RecursionError):
                raise ConstitutionalError("is a string that is not a JSON conversation", field="messages",
                                          **where) from None
        if not isinstance(msgs, list) or not all(isinstance(m, dict) and "role" in m and "content" in m for m in msgs):
            raise ConstitutionalError("must be a list of {role, content} objects", field="messages", **where)
        for i, m in enumerate(msgs):
            if m["role"] not in ROLES:
                raise ConstitutionalError(f"role {m['role']!r} is not one of {', '.join(ROLES)}",
                                          field=f"messages.{i}.role", **where)
            if not isinstance(m["content"], str):
                raise ConstitutionalError("content must be text", field=f"messages.{i}.content", **where)
            if m["role"] == "user" and not m["content"].strip():
                raise ConstitutionalError("a user turn is empty", field=f"messages.{i}.content", **where)
        last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=None)
        if last_user is None:
            raise ConstitutionalError("has no user turn", field="messages", **where)
        return tuple({"role": m["role"], "content": str(m["content"])} for m in msgs[: last_user + 1])
    if row.get("chosen") is not None and isinstance(row["chosen"], str):
        msgs = parse_hh(row["chosen"])
        if not msgs or msgs[0]["role"] != "user":
            raise ConstitutionalError("is not an hh-rlhf transcript ('\\n\\nHuman: ...\\n\\nAssistant: ...')",
                                      field="chosen", **where)
        if msgs[-1]["role"] == "assistant":
            msgs = msgs[:-1]
        return tuple(msgs)
    for key in ("prompt", "question", "instruction"):
        if key in row:
            text = row[key]
            if not isinstance(text, str) or not text.strip():
                raise ConstitutionalError("must be a non-empty string", field=key, **where)
            return ({"role": "user", "content": text.strip()},)
    raise ConstitutionalError(
        "no prompt field", **where,
        hint="give each record 'prompt' (a string), 'messages' (a conversation) or 'chosen' (an hh-rlhf transcript)",
    )


def load_many(sources: list[str], split: str | None = None, limit: int | None = None) -> list[PromptRecord]:
    """Several prompt sets concatenated in order, then cut to ``limit``."""
    return [p for source in sources for p in load_prompts(source, split)][:limit]


def load_prompts(source: str | Path, split: str | None = None, limit: int | None = None) -> list[PromptRecord]:
    """Load a prompt set. ``split`` keeps records whose split matches (records
    with no split are kept only when ``split`` is None)."""
    path = Path(source)  # a file that exists wins over a packaged name
    if not path.exists() and str(source) in PACKAGED:
        path = packaged_path(str(source))
    if not path.exists():
        raise ConstitutionalError(
            f"prompt set '{source}' not found", hint=f"use a packaged set ({', '.join(PACKAGED)}) or a path to a file"
        )
    out: list[PromptRecord] = []
    seen: set[str] = set()
    for n, row in read_rows(path):
        if split is not None and row.get("split") != split:
            continue
        rid = str(row.get("id") or f"{path.stem}-{n}")
        if rid in seen:
            raise ConstitutionalError(f"duplicate id '{rid}'", file=path, line=n, field="id",
                                      hint="ids must be unique within a prompt set")
        seen.add(rid)
        out.append(PromptRecord(rid, _messages(row, path, n), str(row.get("category") or ""),
                                str(row.get("split") or "")))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise ConstitutionalError(
            "prompt set is empty" + (f" for split '{split}'" if split else ""), file=path,
            hint="add records, or set the split to one the file has (records need a 'split' field to be picked by split)",
        )
    return out


def load_fewshot(source: str | Path = "fewshot") -> list[Demo]:
    path = Path(source) if Path(source).is_file() or str(source) != "fewshot" else packaged_path("fewshot")
    if not path.is_file():
        raise ConstitutionalError("few-shot file not found", file=path)
    demos = []
    for n, row in read_rows(path):
        for key in Demo.__dataclass_fields__:
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise ConstitutionalError("missing or empty", file=path, line=n, field=key,
                                          hint="each demonstration needs id, prompt, response, critique_request, "
                                               "critique, revision_request and revision")
        demos.append(Demo(**{k: row[k].strip() for k in Demo.__dataclass_fields__}))
    return demos


@dataclass(frozen=True)
class Preference:
    """A labeled preference: ``chosen`` is the better reply to ``messages``."""

    id: str
    messages: tuple[Message, ...]
    chosen: str
    rejected: str
    kind: str = ""
    split: str = ""
    #: per-reply safety (Safe RLHF's cost signs): from ``chosen_safe``/``rejected_safe`` or PKU-SafeRLHF's
    #: ``is_response_0_safe`` style fields; None where the file does not say
    chosen_safe: bool | None = None
    rejected_safe: bool | None = None


def _safe_flag(row: dict, key: str, path: Path, n: int) -> bool | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ConstitutionalError(f"expected true or false, got {value!r}", file=path, line=n, field=key,
                                  hint="a reply's safety flag is true (safe) or false (unsafe); leave it out if unknown")
    return value


def _reply(row: dict, key: str, path: Path, n: int) -> str:
    value = row.get(key)
    if isinstance(value, list):  # TRL conversational: [{"role": "assistant", "content": ...}]
        value = value[-1].get("content") if value and isinstance(value[-1], dict) else None
    elif isinstance(value, str) and value.lstrip("\n").startswith("Human:"):  # hh-rlhf transcript
        turns = parse_hh(value)
        value = turns[-1]["content"] if turns and turns[-1]["role"] == "assistant" else None
    if not isinstance(value, str) or not value.strip():
        raise ConstitutionalError("missing or empty reply", file=path, line=n, field=key,
                                  hint="preference records need 'chosen' and 'rejected' replies")
    return value.strip()


def load_preferences(source: str | Path, split: str | None = None, limit: int | None = None) -> list[Preference]:
    """Preference pairs: hh-rlhf (``chosen``/``rejected`` transcripts), TRL
    (``prompt`` + ``chosen``/``rejected`` strings or message lists), or the
    packaged format (``prompt``, ``chosen``, ``rejected``, ``kind``, optional ``chosen_safe``/``rejected_safe``).
    A file that exists wins over a packaged name."""
    path = Path(source)
    if not path.exists() and str(source) in PREFERENCE_SETS + PACKAGED:
        path = packaged_path(str(source))
    if not path.exists():
        raise ConstitutionalError(f"preference file '{source}' not found",
                                  hint="pass a .jsonl/.json/.csv/.parquet file or a datasets directory")
    out: list[Preference] = []
    for n, row in read_rows(path):
        if split is not None and row.get("split") != split:
            continue
        prompt_row = {k: v for k, v in row.items() if k != "chosen"} if "prompt" in row or "messages" in row else row
        messages = _messages(prompt_row, path, n)
        out.append(Preference(str(row.get("id") or f"{path.stem}-{n}"), messages, _reply(row, "chosen", path, n),
                              _reply(row, "rejected", path, n), str(row.get("kind") or ""), str(row.get("split") or ""),
                              _safe_flag(row, "chosen_safe", path, n), _safe_flag(row, "rejected_safe", path, n)))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise ConstitutionalError("no preference pairs" + (f" for split '{split}'" if split else ""), file=path)
    return out
