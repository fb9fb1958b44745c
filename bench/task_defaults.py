"""Evidence for a row of pyrl.train.tasks: `pyrl train --env ENV --method a3c --rnn` over seeds,
with the row's settings and side by side with the settings it replaced.

    .venv/bin/python bench/task_defaults.py --env CartPoleNoVel-v1 --seeds 5 --out /tmp/td

Each variant is the row plus some flags (flags override the row): a name of VARIANTS, or
NAME=FLAGS, e.g. --variants "row=--norm layernorm|gamma 0.95=--norm layernorm --gamma 0.95". Per run: the training score
(mean of each worker's last 10 episodes, averaged over workers) and the model's evaluation
after training (20 episodes of the sampled policy), both at the end of the budget; a run
"solves" the task when its score is at least --solved. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

VARIANTS = {
    "row": "",
    "row, lr 3e-4 (the row's first tuning)": "--lr 3e-4",
    "trainer defaults (rollout 5, gamma 0.99, GAE lambda 0.95, lr 7e-4)":
        "--rollout 5 --gamma 0.99 --gae-lambda 0.95 --lr 7e-4",
}


def _num(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="CartPoleNoVel-v1")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--solved", type=float, default=475.0)
    ap.add_argument("--variants", default="|".join(VARIANTS),
                    help="names of VARIANTS or NAME=FLAGS, separated by |")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = []
    for variant in args.variants.split("|"):
        name, eq, flags = variant.partition("=")
        flags = flags if eq else VARIANTS[name]
        results = []
        for seed in range(args.seeds):
            out = args.out / f"{name.split(' (')[0].replace(' ', '_').replace(',', '')}_seed{seed}"
            cmd = [sys.executable, "-m", "pyrl", "train", "--env", args.env, "--method", "a3c", "--rnn",
                   "--seed", str(seed), "--out", str(out), "--json", *shlex.split(flags)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode not in (0, 1):
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            r = json.loads(proc.stdout)
            ev = r["models"][0]["eval"]
            results.append({"score": r["score_mean"], "eval": ev["mean"] if ev else None, "wall": r["wall_s"],
                            "status": r["status"], "config": r["config"]})
            print(f"{name} seed {seed}: {r['status']} score {r['score_mean']} eval {ev and ev['mean']}",
                  file=sys.stderr, flush=True)
        cfg = results[0]["config"]
        solved = sum(x["score"] is not None and x["score"] >= args.solved for x in results)
        solved_eval = sum(x["eval"] is not None and x["eval"] >= args.solved for x in results)
        scores = ", ".join(_num(x["score"]) for x in results)
        evals = ", ".join(_num(x["eval"]) for x in results)
        rows.append(f"| {name} | {cfg['rollout']} / {cfg['gamma']:g} / {cfg['gae_lambda']:g} / {cfg['lr']:g} | "
                    f"{cfg['steps']:,} | {scores} | {evals} | "
                    f"{solved} / {solved_eval} of {len(results)} | "
                    f"{statistics.median(x['wall'] for x in results):.0f} s |")
    print(f"| settings ({args.env}, a3c, --rnn) | rollout / gamma / GAE lambda / lr | steps | training score "
          f"per seed | evaluation per seed | >= {args.solved:g} (training / evaluation) | median wall |")
    print("| --- | --- | ---: | --- | --- | --- | ---: |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
