"""The quality suite: train and score one setting on every corpus there is.

Every default is chosen with it (docs/quality.md). A setting is ``--set`` overrides on
top of ``nmt train``'s defaults (none: the defaults themselves). For each corpus and
seed it runs ``nmt train``, then ``nmt evaluate`` on the test split greedily and with
``--beam 5``, appends one JSON line per run to ``OUT/results.jsonl``, and prints the
table of mean ± spread over seeds for every setting run into ``OUT`` so far (with
``--doc``, also writes it into that Markdown file between marker lines).

The corpora (``--corpora``, default all that exist here):

- ``en-ko``: the bundled conversational corpus, ``data/en-ko``;
- ``ko-en``: the same pairs reversed, so the target is English;
- ``dates``: the dates generator (8,000 train pairs), an exact transduction;
- ``ranges``: date ranges (``from DATE to DATE`` → ``…부터 …까지``), outputs twice
  as long as the dates', generated here;
- ``news``: ``../shared/corpora/ko-en-news``, long real news sentences; its models are
  also tested on ``ko-en-jhe`` (general-domain text, out of domain).

    python scripts/quality_suite.py --name defaults --out runs/quality --seeds 0 1 2
    python scripts/quality_suite.py --name ema0 --set train.ema_decay=0 --corpora en-ko dates
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from nmt.data.dates import FIRST_DAY, FORMS, N_DAYS, render, write_dates_corpus

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpora"
CORPORA = ("en-ko", "ko-en", "dates", "ranges", "news")
# The beam the targets are judged with (nmt evaluate --beam 5), and greedy beside it.
BEAMS = (1, 5)
MARK = "<!-- quality-suite {} -->"


def prepare(name: str, work: Path) -> tuple[Path, dict[str, Path]] | None:
    """The corpus to train on and the extra test sets, or None where it is not here."""
    if name == "en-ko":
        return ROOT / "data" / "en-ko", {}
    if name == "ko-en":
        out = work / "ko-en"
        for split in ("train", "dev", "test"):
            lines = (ROOT / "data" / "en-ko" / f"{split}.tsv").read_text(encoding="utf-8")
            pairs = (line.split("\t")[:2] for line in lines.splitlines() if line.strip())
            _write(out / f"{split}.tsv", [(ko, en) for en, ko in pairs])
        return out, {}
    if name == "dates":
        out = work / "dates"
        write_dates_corpus(out, 8_000, 500, 500, seed=0)
        return out, {}
    if name == "ranges":
        out = work / "ranges"
        rng = random.Random(0)
        pairs = _ranges(rng, 9_000)
        for split, (lo, hi) in {
            "test": (0, 500),
            "dev": (500, 1000),
            "train": (1000, 9000),
        }.items():
            _write(out / f"{split}.tsv", pairs[lo:hi])
        return out, {}
    if name == "news":
        news, jhe = SHARED / "ko-en-news", SHARED / "ko-en-jhe" / "test.tsv"
        if not news.is_dir():
            return None
        return news, ({"jhe": jhe} if jhe.is_file() else {})
    raise ValueError(name)


def _ranges(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` distinct date ranges, each end in its own English form."""
    first, pairs, seen = FIRST_DAY.toordinal(), [], set()
    while len(pairs) < n:
        start = rng.randrange(first, first + N_DAYS - 400)
        end = start + rng.randrange(1, 400)
        (en1, ko1), (en2, ko2) = (
            render(datetime.date.fromordinal(day), rng.choice(FORMS)) for day in (start, end)
        )
        english = f"from {en1} to {en2}"
        if english not in seen:
            seen.add(english)
            pairs.append((english, f"{ko1}부터 {ko2}까지"))
    return pairs


def _write(path: Path, pairs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")


def nmt(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nmt", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"quality_suite: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done


def run_one(corpus: Path, tests: dict[str, Path], model: Path, sets: list[str], seed: int):
    """Train one model and score it; the record of ``results.jsonl``."""
    overrides = [a for s in [*sets, f"train.seed={seed}"] for a in ("--set", s)]
    start = time.monotonic()
    done = nmt("train", "--corpus", str(corpus), "--out", str(model), *overrides)
    record = {"train_s": round(time.monotonic() - start, 1), "log": done.stderr.splitlines()[-3:]}
    (model / "train.log").write_text(done.stderr, encoding="utf-8")
    for test, path in {"test": corpus, **tests}.items():
        for beam in BEAMS:
            split = ("--split", "test") if test == "test" else ()
            args = ("--model", str(model), "--corpus", str(path), *split, "--json")
            out = nmt("evaluate", *args, "--beam", str(beam)).stdout.splitlines()[-1]
            scores = json.loads(out)
            keep = ("chrf", "bleu", "exact_match", "length_ratio")
            record[f"{test}/beam{beam}"] = {k: round(scores[k], 4) for k in keep}
    return record


def table(results: Path) -> str:
    """Markdown: one row per setting and corpus, mean ± half the range over seeds."""
    rows: dict[tuple[str, str], list[dict]] = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        rows.setdefault((r["setting"], r["corpus"]), []).append(r)
    lines = [
        "| setting | corpus | test | seeds | chrF greedy | chrF beam 5 | exact beam 5 "
        "| length ratio beam 5 | train s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (setting, corpus), runs in rows.items():
        tests = [k.split("/")[0] for k in runs[0] if k.endswith("/beam5")]
        for test in tests:
            cells = [
                _spread([r[f"{test}/beam1"]["chrf"] for r in runs]),
                _spread([r[f"{test}/beam5"]["chrf"] for r in runs]),
                _spread([100 * r[f"{test}/beam5"]["exact_match"] for r in runs]),
                _spread([r[f"{test}/beam5"]["length_ratio"] for r in runs], 3),
                f"{statistics.mean(r['train_s'] for r in runs):.0f}",
            ]
            seeds = ",".join(str(r["seed"]) for r in runs)
            lines.append(f"| {setting} | {corpus} | {test} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _spread(values: list[float], digits: int = 2) -> str:
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(max(values) - min(values)) / 2:.{digits}f}"


def write_doc(doc: Path, name: str, text: str) -> None:
    """Put ``text`` between this suite's marker lines in ``doc`` (appended if absent)."""
    begin, end = MARK.format(f"{name} begin"), MARK.format(f"{name} end")
    block = f"{begin}\n{text}{end}\n"
    old = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old + ("\n" if old and not old.endswith("\n") else "") + block
    doc.write_text(new, encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True, help="the setting's name in the table")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "quality")
    p.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--doc", type=Path, help="also write the table into this Markdown file")
    args = p.parse_args()
    results = args.out / "results.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.corpora:
        found = prepare(name, args.out / "corpora")
        if found is None:
            print(f"quality_suite: {name}: not on this machine, skipped", file=sys.stderr)
            continue
        corpus, tests = found
        for seed in args.seeds:
            model = args.out / args.name / f"{name}-{seed}"
            if model.exists():
                sys.exit(f"quality_suite: {model} exists; remove it or use another --name")
            record = {"setting": args.name, "corpus": name, "seed": seed, "sets": args.set}
            record.update(run_one(corpus, tests, model, args.set, seed))
            with results.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            print(json.dumps(record, ensure_ascii=False), file=sys.stderr, flush=True)
    text = table(results)
    print(text, end="")
    if args.doc:
        write_doc(args.doc, "table", text)


if __name__ == "__main__":
    main()
