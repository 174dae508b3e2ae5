"""The edit test's table: refusal rate per category and model, with 95 % Wilson
intervals, and each edited arm's change against the base constitution's.

    python experiments/edit/table.py runs/edit-eval [--markdown]

Rates are the refusal classifier's (its accuracy is in the run's report,
runs/edit-eval/eval/report.html); a partial refusal does not count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from constitutional.eval.stats import rate_ci


def main() -> None:
    run = Path(sys.argv[1])
    markdown = "--markdown" in sys.argv
    metrics = json.loads((run / "eval" / "metrics.json").read_text(encoding="utf-8"))
    models = list(metrics["models"])
    base = models[0]
    cats = {(suite, cat) for m in models for suite, cs in metrics["models"][m]["per_category"].items() for cat in cs}
    head = ["suite", "category", "n"] + models + [f"{m} - {base}" for m in models[1:]]
    rows = []
    for suite, cat in sorted(cats):
        cells, rates = [], []
        for m in models:
            r = metrics["models"][m]["per_category"].get(suite, {}).get(cat)
            if r is None:
                cells.append("-")
                rates.append(None)
                continue
            k = round(r["refusal_rate"] * r["n"])
            ci = rate_ci(k, r["n"])
            cells.append(f"{r['refusal_rate']:.0%} [{ci['lo']:.0%}, {ci['hi']:.0%}]")
            rates.append(r["refusal_rate"])
        n = next(metrics["models"][m]["per_category"][suite][cat]["n"] for m in models
                 if cat in metrics["models"][m]["per_category"].get(suite, {}))
        deltas = [f"{(x - rates[0]) * 100:+.0f}" if x is not None and rates[0] is not None else "-" for x in rates[1:]]
        rows.append([suite, cat, str(n), *cells, *deltas])
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    for r in [head, *rows]:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths)))


if __name__ == "__main__":
    main()
