"""Train and score one model per setting on a corpus: the table behind docs/quality.md.

Each setting is a name and ``--set`` overrides on top of ``nmt train``'s defaults (or
a base given with ``--base``). Every run trains into a new ``OUT/NAME``, is scored
on the test split with ``nmt evaluate`` greedy and with ``--beam 5`` (and, averaged over
its last 5 best checkpoints by ``nmt average``, with ``--beam 5``), and appends one
JSON line to ``OUT/results.jsonl``; the table of all results so far is printed at
the end.

    python scripts/ablation.py --corpus data/en-ko --out runs/ablation/en-ko \\
        --setting default= --setting dropout3=model.dropout=0.3
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path


def run_nmt(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nmt", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"ablation: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done


def train(corpus: str, out: Path, overrides: list[str], extra: list[str]) -> dict:
    sets = [arg for o in overrides for arg in ("--set", o)]
    start = time.monotonic()
    done = run_nmt("train", "--corpus", corpus, "--out", str(out), *sets, *extra)
    seconds = time.monotonic() - start
    epochs = re.findall(r"epoch (\d+)/\d+", done.stderr)
    steps = re.findall(r"step (\d+)", done.stderr)
    return {
        "train_seconds": round(seconds, 1),
        "epochs": int(epochs[-1]) if epochs else None,
        "steps": int(steps[-1]) if steps else None,
        "log_tail": done.stderr.strip().splitlines()[-1:],
    }


def score(corpus: str, out: Path, beam: int) -> dict:
    beam_args = ("--json", "--beam", str(beam))
    done = run_nmt("evaluate", "--model", str(out), "--corpus", corpus, *beam_args)
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_setting(text: str) -> tuple[str, list[str]]:
    name, sep, rest = text.partition("=")
    if not sep or not re.fullmatch(r"[\w.-]+", name):
        raise argparse.ArgumentTypeError(f"expected NAME=field=value,field=value, got {text!r}")
    return name, [o for o in rest.split(",") if o]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, help="directory with train/dev/test.tsv")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument(
        "--setting",
        action="append",
        type=parse_setting,
        required=True,
        help="NAME=section.field=value,section.field=value (empty: the defaults)",
    )
    p.add_argument("--base", default="", help="overrides every setting starts from")
    p.add_argument("--train-arg", action="append", default=[], help="passed to nmt train")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = [o for o in args.base.split(",") if o]
    results = args.out / "results.jsonl"
    for name, overrides in args.setting:
        model = args.out / name
        if model.exists():
            sys.exit(f"ablation: {model} exists; remove it or name the setting differently")
        record = {"corpus": args.corpus, "setting": name, "overrides": base + overrides}
        record.update(train(args.corpus, model, base + overrides, args.train_arg))
        for beam in (1, 5):
            scores = score(args.corpus, model, beam)
            record[f"beam{beam}"] = {k: scores[k] for k in ("chrf", "bleu", "exact_match")}
        # The same run's last best checkpoints averaged (nmt average), beam 5.
        averaged = args.out / f"{name}.avg"
        run_nmt("average", "--model", str(model), "--out", str(averaged), "--last", "5")
        scores = score(args.corpus, averaged, 5)
        record["avg_beam5"] = {k: scores[k] for k in ("chrf", "bleu", "exact_match")}
        with results.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(json.dumps(record, ensure_ascii=False), flush=True)
    print(
        "| setting | chrF greedy | chrF beam 5 | BLEU beam 5 | chrF averaged, beam 5 "
        "| epochs | train s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for line in results.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        averaged = f"{r['avg_beam5']['chrf']:.2f}" if "avg_beam5" in r else "–"
        print(
            f"| {r['setting']} | {r['beam1']['chrf']:.2f} | {r['beam5']['chrf']:.2f} | "
            f"{r['beam5']['bleu']:.2f} | {averaged} | {r['epochs']} | {r['train_seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
