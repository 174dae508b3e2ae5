"""The packaged labeled sets the judges are trained or measured on.

- ``refusal_labels``: replies labeled comply / partial / refuse, and whether a
  refusal offers a safe alternative; ``train`` and ``test`` splits.
- ``harm_labels``: replies to harmful requests with a harm score 0-4.
- ``rbr_replies``: four replies per prompt, each with its class and the truth
  of every rule proposition (rule-based rewards fit their weights on the
  ``train`` split and measure the grader on the ``eval`` split).

Each is a JSONL file in ``constitutional/data``; a path to a file of the same
shape works too (to measure a judge on your own labels).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from constitutional.core.errors import ConstitutionalError
from constitutional.prompts import read_rows

FIELDS = {
    "refusal_labels": {"id": str, "prompt": str, "response": str, "label": ("comply", "partial", "refuse"),
                       "alternative": bool, "split": ("train", "test")},
    "harm_labels": {"id": str, "prompt": str, "response": str, "harm": (0, 1, 2, 3, 4)},
    "rbr_replies": {"id": str, "group": str, "category": str, "prompt": str, "reply": str, "class": str,
                    "props": dict, "split": ("train", "eval")},
}


def labeled_path(name: str) -> Path:
    if name in FIELDS and not Path(name).is_file():  # a local file wins over a packaged name
        return Path(str(resources.files("constitutional") / "data" / f"{name}.jsonl"))
    return Path(name)


def load_labeled(name: str, kind: str | None = None, split: str | None = None) -> list[dict]:
    """Records of a labeled set, checked field by field; ``split`` keeps one split.

    ``kind`` names the shape (``refusal_labels`` or ``harm_labels``) when
    ``name`` is a path.
    """
    kind = kind or name
    fields, path = FIELDS[kind], labeled_path(name)
    if not path.is_file():
        raise ConstitutionalError(f"labeled set '{name}' not found", file=path,
                                  hint="reinstall the package, or pass a JSONL file with fields " + ", ".join(fields))
    out = []
    for n, row in read_rows(path):  # the prompt loader's reader: bad JSON is reported with its line
        for key, want in fields.items():
            value = row.get(key)
            ok = value in want and type(value) is type(want[0]) if isinstance(want, tuple) else isinstance(value, want)
            if not ok:
                allowed = " or ".join(map(repr, want)) if isinstance(want, tuple) else want.__name__
                raise ConstitutionalError(f"got {value!r}", file=path, line=n, field=key, hint=f"expected {allowed}")
        if split is None or row.get("split") == split:
            out.append(row)
    if not out:
        raise ConstitutionalError("no labeled records" + (f" in split '{split}'" if split else ""), file=path)
    return out
