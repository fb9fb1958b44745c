"""Sweeps: the full factorial of components x methods x seeds, run on a local process pool
or a Ray cluster, into one resumable results directory.

Layout of ``--out DIR``::

    DIR/sweep.json                      the settings that define the grid (a rerun must match)
    DIR/<run_id>/result.json            written last and atomically: its presence = finished
    DIR/<run_id>/curve.csv, model*.pt   the run's learning curve and checkpoints

Each run trains in a scratch directory wherever it executes (a pool process here, a Ray
worker elsewhere) and sends its files back as bytes; the driver alone writes ``DIR``. A run is
finished when its ``result.json`` exists, whatever its status (ok, failed, diverged): a rerun
skips it untouched and runs the rest, so a sweep killed even with SIGKILL resumes where it was.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from pyrl.results import write_bytes_atomic, write_json_atomic

COMPONENTS = ("rnn", "layernorm")
METHODS = ("a3c", "individual")
MANIFEST = "sweep.json"
RESULT = "result.json"

# --preset: sizes that suit a question; explicit options override them.
PRESETS: dict[str, dict[str, Any]] = {
    # a few minutes on 2 cores: the velocity-hidden CartPole, where memory matters
    "quick": dict(env="CartPoleNoVel-v1", seeds=2, steps=30_000, workers=2, envs_per_worker=4),
    # a study-sized sweep for a workstation or a cluster
    "full": dict(env="CartPoleNoVel-v1", seeds=10, steps=300_000, workers=4, envs_per_worker=8),
}


class SweepError(ValueError):
    """A user mistake in a sweep (settings that clash with an existing directory, ...)."""


@dataclass(frozen=True)
class RunSpec:
    run_id: str                 # directory name under --out, unique in the grid
    method: str                 # a3c | individual
    seed: int
    components: dict[str, bool]  # the on/off setting of each swept component
    train_kwargs: dict[str, Any] = field(hash=False)  # everything pyrl.train needs


def run_id(method: str, components: dict[str, bool], seed: int) -> str:
    parts = [f"{c}-{'on' if v else 'off'}" for c, v in components.items()] or ["single"]
    return f"{method}__{'_'.join(parts)}__seed{seed}"


def grid(settings: dict[str, Any]) -> list[RunSpec]:
    """Every on/off combination of the components x methods x seeds (the "neither" cell
    included). ``settings`` holds: components, methods, seeds, and the training options."""
    components = list(settings["components"])
    base = {k: v for k, v in settings.items() if k not in ("components", "methods", "seeds")}
    specs = []
    for values in itertools.product((True, False), repeat=len(components)):
        combo = dict(zip(components, values))
        for method in settings["methods"]:
            for seed in range(settings["seeds"]):
                kwargs = dict(base, **combo, method=method, seed=seed)
                specs.append(RunSpec(run_id(method, combo, seed), method, seed, combo, kwargs))
    return specs


# ---- the results directory ----

def prepare(out: Path, settings: dict[str, Any]) -> None:
    """Create ``out`` with its manifest, or check that an existing one holds the same sweep."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    want = json.loads(json.dumps(settings))  # normalise tuples etc. as JSON sees them
    if manifest.exists():
        have = json.loads(manifest.read_text())
        if have.get("settings") != want:
            diff = sorted(k for k in set(have.get("settings", {})) | set(want)
                          if have.get("settings", {}).get(k) != want.get(k))
            raise SweepError(
                f"{out} holds a sweep with other settings (differ: {', '.join(diff)}); "
                f"use another --out, or the same settings to resume it")
        return
    write_json_atomic(manifest, {"components": list(settings["components"]), "settings": want,
                                 "created": time.strftime("%Y-%m-%dT%H:%M:%S")})


def finished(out: Path, spec: RunSpec) -> bool:
    return (out / spec.run_id / RESULT).exists()


def store(out: Path, spec: RunSpec, files: dict[str, bytes]) -> dict[str, Any]:
    """Write a run's files under ``out/run_id``; result.json last, so it marks completion."""
    run_dir = out / spec.run_id
    if run_dir.exists():  # leftovers of a run killed before it finished
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    for name, data in files.items():
        if name != RESULT:
            write_bytes_atomic(run_dir / name, data)
    result = json.loads(files[RESULT])
    write_bytes_atomic(run_dir / RESULT, files[RESULT])
    return result


# ---- executing one run (in a pool process or a Ray task) ----

def execute(spec: RunSpec) -> dict[str, bytes]:
    """Train one run in a scratch directory and return its files as bytes. Never raises for
    a training failure: a run that breaks comes back as a result with status failed."""
    from pyrl.train.config import TrainConfig
    from pyrl.train.run import train

    scratch = Path(tempfile.mkdtemp(prefix="pyrl-run-"))
    try:
        try:
            train(TrainConfig(**spec.train_kwargs), scratch)
        except Exception as exc:  # the run failed to start or crashed outside its workers
            result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc(limit=5), "method": spec.method,
                      "seed": spec.seed, "config": spec.train_kwargs, "workers": []}
            write_json_atomic(scratch / RESULT, result)
        return {p.name: p.read_bytes() for p in scratch.iterdir() if p.is_file()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _pool_init() -> None:
    # If the driver dies (even SIGKILL), take the pool process with it (Linux).
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# ---- executors: each yields (spec, files) as runs finish ----

def run_local(specs: list[RunSpec], jobs: int, on_start: Callable[[RunSpec], None]) -> Iterator[tuple[RunSpec, dict]]:
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                             initializer=_pool_init) as pool:
        pending = {}
        queue = list(specs)
        while queue or pending:
            while queue and len(pending) < jobs:
                spec = queue.pop(0)
                pending[pool.submit(execute, spec)] = spec
                on_start(spec)
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                spec = pending.pop(fut)
                yield spec, _files_or_failure(spec, fut)


def run_ray(specs: list[RunSpec], cpus_per_run: int, gpus_per_run: int, address: Optional[str],
            on_start: Callable[[RunSpec], None]) -> Iterator[tuple[RunSpec, dict]]:
    """A Ray task per run, holding a core per worker and, for a GPU run, one GPU (Ray sets the
    task's CUDA_VISIBLE_DEVICES to it, and the run's workers inherit it)."""
    try:
        import ray
    except ImportError:
        raise SweepError("the Ray backend needs Ray: pip install 'pyrl[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, ignore_reinit_error=True,
                 include_dashboard=False, log_to_driver=False)
    try:
        if gpus_per_run and ray.cluster_resources().get("GPU", 0) < gpus_per_run:
            # Ray would hold the tasks forever, waiting for a GPU that never comes
            raise SweepError("--device cuda: the Ray cluster has no GPU (ray.cluster_resources() lists none)")
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(execute)
        refs = {}
        for spec in specs:
            refs[task.remote(spec)] = spec
            on_start(spec)
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                spec = refs.pop(ref)
                try:
                    files = ray.get(ref)
                except Exception as exc:  # the task died (node lost, OOM kill, ...)
                    files = _failure(spec, f"Ray task failed: {type(exc).__name__}: {exc}")
                yield spec, files
    finally:
        if started_here:
            ray.shutdown()


def _files_or_failure(spec: RunSpec, fut) -> dict[str, bytes]:
    try:
        return fut.result()
    except Exception as exc:  # the pool process died (killed, out of memory)
        return _failure(spec, f"run process died: {type(exc).__name__}: {exc}")


def _failure(spec: RunSpec, error: str) -> dict[str, bytes]:
    result = {"status": "failed", "error": error, "method": spec.method, "seed": spec.seed,
              "config": spec.train_kwargs, "workers": []}
    return {RESULT: json.dumps(result).encode()}


# ---- the sweep ----

@dataclass
class SweepEvent:
    kind: str                    # "skip" | "start" | "done"
    spec: RunSpec
    result: Optional[dict] = None


def sweep(settings: dict[str, Any], out: Path, backend: str = "local", jobs: Optional[int] = None,
          ray_address: Optional[str] = None,
          on_event: Callable[[SweepEvent], None] = lambda e: None) -> list[dict[str, Any]]:
    """Run every unfinished run of the grid into ``out``; return the results of the runs
    done now. ``on_event`` sees skips, starts and completions (for a progress display)."""
    out = Path(out)
    prepare(out, settings)
    specs = grid(settings)
    todo = []
    for spec in specs:
        if finished(out, spec):
            on_event(SweepEvent("skip", spec))
        else:
            todo.append(spec)
    if not todo:
        return []
    start = lambda spec: on_event(SweepEvent("start", spec))  # noqa: E731
    workers = int(settings.get("workers", 1))
    if backend == "local":
        jobs = jobs or max(1, (os.cpu_count() or 1) // workers)  # a run uses W cores
        stream = run_local(todo, jobs, start)
    elif backend == "ray":
        gpus = 0 if settings.get("device", "cpu") == "cpu" else 1
        stream = run_ray(todo, workers, gpus, ray_address, start)
    else:
        raise SweepError(f"unknown backend {backend!r} (local or ray)")
    results = []
    for spec, files in stream:
        if json.loads(files[RESULT]).get("status") == "interrupted":
            continue  # stopped by Ctrl-C, not finished: not stored, so a rerun trains it again
        result = store(out, spec, files)
        results.append(result)
        on_event(SweepEvent("done", spec, result))
    return results
