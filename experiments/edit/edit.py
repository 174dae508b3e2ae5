"""Write an edited copy of a constitution: drop principles, permit what they restricted, add principles.

    python experiments/edit/edit.py cai-2022 OUT.yaml --remove respect-creators
    python experiments/edit/edit.py cai-2022 OUT.yaml --permit respect-creators   # drop it and list its examples as permitted
    python experiments/edit/edit.py cai-2022 OUT.yaml --add experiments/edit/principles/no-personal-dosing.yaml

The copy is checked by the same loader a run uses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from constitutional.constitution import load_constitution, resolve
from constitutional.core.yamlio import dump_yaml


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="packaged constitution name or path")
    ap.add_argument("out", type=Path)
    ap.add_argument("--remove", action="append", default=[], help="principle id to drop (repeat)")
    ap.add_argument("--permit", action="append", default=[], help="principle id to drop and whose examples become "
                    "a permitted entry (repeat)")
    ap.add_argument("--add", action="append", default=[], type=Path, help="YAML list of principles to append")
    args = ap.parse_args()
    data = yaml.safe_load(resolve(args.base).read_text(encoding="utf-8"))
    ids = {p["id"] for p in data["principles"]}
    missing = set(args.remove + args.permit) - ids
    if missing:
        raise SystemExit(f"no principle {sorted(missing)} in {args.base}")
    for p in data["principles"]:
        if p["id"] in args.permit:
            data.setdefault("permitted", []).append({"id": f"now-{p['id']}", "covers": p["restricts"],
                                                     "examples": p["examples"]})
    data["principles"] = [p for p in data["principles"] if p["id"] not in args.remove + args.permit]
    for path in args.add:
        data["principles"] += yaml.safe_load(path.read_text(encoding="utf-8"))
    data["name"] = args.out.stem
    edits = ([f"removed {', '.join(args.remove)}"] * bool(args.remove) + [f"permitted {', '.join(args.permit)}"] *
             bool(args.permit) + [f"added {p}" for p in args.add])
    data["description"] = f"{args.base}, edited: {'; '.join(edits)}."
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump_yaml(data, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    c = load_constitution(args.out)
    print(f"wrote {args.out}: {len(c.principles)} principles, {len(c.restricting)} restricting")


if __name__ == "__main__":
    main()
