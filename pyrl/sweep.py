"""Sweeps: the full factorial of factor levels x methods x seeds, run on a local process pool
or a Ray cluster, into one resumable results directory.

Layout of ``--out DIR``::

    DIR/sweep.json                      what defines the sweep: its factors and their levels, the
                                        methods, the seeds, and the complete resolved training
                                        configuration (every TrainConfig field), with the pyrl
                                        version; a rerun must match it. Also "floor": the
                                        env's random-policy score (a divergence floor fixed
                                        before any analysis; measured when the sweep is made,
                                        added on resume to a sweep.json without it; no part of
                                        the definition), and "reference": the env's reference
                                        score from its row in pyrl.train.tasks (1 on a suite's
                                        normalised scale, 0 being the floor), or null
    DIR/suite.json                      instead, for a sweep over several envs (``--env A,B``,
                                        ``--suite``): the envs, each a sweep as above in DIR/<env>
    DIR/.lock                           the OS lock of the sweep that is using DIR (and who it is)
    DIR/<run_id>/result.json            written last: its presence = finished
    DIR/<run_id>/curve.csv, model*.pt   the run's learning curve and checkpoints

A factor is a TrainConfig field and its levels (``rnn``: on, off; ``norm``: none, layernorm,
...); the baseline is every factor at its first level. On/off components (``--components
rnn,layernorm``) are the two-level factors [on, off].

Each run trains in a scratch directory wherever it executes (a pool process here, a Ray
worker elsewhere) and sends its files back as bytes; the driver alone writes ``DIR``, holding
the directory's lock for the whole sweep, so a second sweep on ``DIR`` is refused and no two
stores can interleave. A run's files are staged in a hidden directory and renamed into place
whole. A run whose result is ``ok`` or ``diverged`` (learning outcomes) is finished: a rerun
skips it untouched. A ``failed`` run (a crash or a kill: not a learning outcome) is trained
again by a rerun, and so is anything a SIGKILL interrupted.
"""
from __future__ import annotations

import fcntl
import itertools
import json
import os
import shutil
import socket
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from pyrl.results import FINISHED, LOCK, MANIFEST, RESULT, SUITE, file_name, write_bytes_atomic, write_json_atomic

COMPONENTS = ("rnn", "layernorm")
METHODS = ("a3c", "individual")
FORMAT = 2  # of sweep.json; 1 (no "format"): settings given on the command line only
_SWEEP_KEYS = ("components", "factors", "methods", "seeds", "task_defaults")
_NOT_FACTORS = ("method", "seed", "extra")

# --preset: sizes that suit a question; explicit options override them. The training options
# of the env come from its row of tuned settings (pyrl.train.tasks), under the preset's sizes.
PRESETS: dict[str, dict[str, Any]] = {
    # the velocity-hidden CartPole, where memory matters
    # quick: under 5 minutes on 2 cores, and 5 runs per cell: the fewest at which every interval
    # of the report holds its coverage (bench/README.md, "Claims that hold")
    "quick": dict(env="CartPoleNoVel-v1", seeds=5, steps=80_000, workers=2, envs_per_worker=8),
    # a study-sized sweep for a workstation or a cluster
    "full": dict(env="CartPoleNoVel-v1", seeds=10, steps=300_000, workers=4, envs_per_worker=8),
    # the memory suite (SUITES), 5 runs per cell, every task at its row's budget and sizes
    "suite": dict(suite="memory", seeds=5, workers=2),
}


class SweepError(ValueError):
    """A user mistake in a sweep (settings that clash with an existing directory, ...)."""


@dataclass(frozen=True)
class RunSpec:
    run_id: str                  # directory name under --out, unique in the grid
    method: str                  # a3c | individual
    seed: int
    factors: dict[str, Any]      # this run's level of each swept factor
    train_kwargs: dict[str, Any] = field(hash=False)  # the run's complete TrainConfig


def _level_name(level: Any) -> str:
    if isinstance(level, bool):
        return "on" if level else "off"
    return file_name(level)


def run_id(method: str, factors: dict[str, Any], seed: int) -> str:
    parts = [f"{name}-{_level_name(level)}" for name, level in factors.items()] or ["single"]
    return f"{method}__{'_'.join(parts)}__seed{seed}"


def factors_of(settings: dict[str, Any]) -> dict[str, list]:
    """The swept factors and their levels, baseline first: ``settings["factors"]`` (a mapping
    name -> levels), else the on/off ``settings["components"]`` as [True, False] each."""
    if settings.get("factors"):
        return {str(k): list(v) for k, v in settings["factors"].items()}
    return {c: [True, False] for c in settings.get("components", [])}


def resolve(settings: dict[str, Any]) -> dict[str, Any]:
    """The sweep's definition, everything resolved: factors, methods, seeds, and ``config``, the
    complete TrainConfig of a run (defaults included) less what varies between runs (method,
    seed, the fields the factors set). Raises SweepError for a factor that is no TrainConfig
    field (or alias of one) or a configuration TrainConfig refuses."""
    from pyrl.train.config import FACTOR_ALIASES, TrainConfig, factor_options

    factors = factors_of(settings)
    train = {k: v for k, v in settings.items() if k not in _SWEEP_KEYS}
    fields = [f for f in TrainConfig.__dataclass_fields__ if f not in _NOT_FACTORS]
    controlled: dict[str, str] = {}  # TrainConfig field -> the factor that sets it
    for name, levels in factors.items():
        field = FACTOR_ALIASES.get(name, (name,))[0]
        if field not in fields:
            raise SweepError(f"unknown factor {name!r}: a factor is a training option ({', '.join(fields)}, "
                             f"or {', '.join(FACTOR_ALIASES)})")
        if field in controlled:
            raise SweepError(f"factors {controlled[field]!r} and {name!r} both set {field}: give one")
        controlled[field] = name
        if len(levels) < 2 or len(set(map(json.dumps, levels))) != len(levels):
            raise SweepError(f"factor {name!r} needs at least two distinct levels, got {levels}")
    try:
        base = TrainConfig(**train)
        for combo in itertools.product(*factors.values()):  # every cell must be a valid run
            TrainConfig(**{**train, **factor_options(dict(zip(factors, combo)))}).check(here=False)
    except (TypeError, ValueError, KeyError) as exc:
        raise SweepError(f"invalid training configuration: {exc}") from None
    config = {k: v for k, v in base.to_dict().items() if k not in ("method", "seed", *controlled)}
    return json.loads(json.dumps({"factors": factors, "methods": list(settings["methods"]),
                                  "seeds": int(settings["seeds"]), "config": config}))


def grid(settings: dict[str, Any]) -> list[RunSpec]:
    """Every combination of the factors' levels (the "neither" cell included) x methods x
    seeds, the baseline (every factor at its first level) first."""
    from pyrl.train.config import factor_options

    sweep_def = resolve(settings)
    factors = sweep_def["factors"]
    specs = []
    for combo in itertools.product(*factors.values()):
        levels = dict(zip(factors, combo))
        for method in sweep_def["methods"]:
            for seed in range(sweep_def["seeds"]):
                kwargs = dict(sweep_def["config"], **factor_options(levels), method=method, seed=seed)
                specs.append(RunSpec(run_id(method, levels, seed), method, seed, levels, kwargs))
    return specs


# ---- the results directory ----

@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Holds ``out``'s OS lock (flock on ``out/.lock``) for the block, or raises SweepError
    naming the holder. The OS drops the lock when its holder dies, even by SIGKILL."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise SweepError(f"{out} is in use by another sweep ({holder}); wait for it to finish "
                         "or use another --out") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def check_free(out: Path) -> None:
    """SweepError naming the holder if another sweep holds ``out``'s lock now; a probe, before
    the slow start of a sweep (``sweep`` takes the lock itself)."""
    if (out / LOCK).exists():
        with locked(out):
            pass


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyrl")
    except PackageNotFoundError:
        return "unknown"


def prepare(out: Path, settings: dict[str, Any]) -> None:
    """Create ``out`` with its manifest, or check that an existing one holds the same sweep
    (SweepError naming what differs). Call it holding the lock. The manifest's ``floor`` (the
    random-policy score, ``floor(...)``) is measured once, when the sweep is made; a manifest
    without one gets it added on resume. It is a measurement, not part of the definition. A
    training option a newer pyrl added is no difference when the new value is its default
    (the older sweep meant that); the manifest records it on resume."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    want = resolve(settings)
    if manifest.exists():
        have, added = check_resumable(out, settings)
        old = have.get("config", {})
        if added or "floor" not in have or "reference" not in have:
            write_json_atomic(manifest, {**have, "config": {**old, **added}, "floor": have.get("floor") or floor(want),
                                         "reference": have.get("reference") or reference(want)})
        return
    write_json_atomic(manifest, {"format": FORMAT, "pyrl": _version(), **want, "floor": floor(want),
                                 "reference": reference(want),
                                 "task_defaults": settings.get("task_defaults") or {},
                                 "created": time.strftime("%Y-%m-%dT%H:%M:%S")})


def check_resumable(out: Path, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """SweepError unless ``out`` holds no sweep or this one (``prepare``'s rule: options a newer
    pyrl added count as their defaults); else (its manifest, or {}, and the options it lacks at
    their defaults). Writes nothing: a suite checks every env's before any run starts."""
    from pyrl.train.config import at_default

    manifest = Path(out) / MANIFEST
    if not manifest.exists():
        return {}, {}
    try:
        have = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise SweepError(f"{manifest}: unreadable ({exc}); use another --out") from None
    if have.get("format") != FORMAT:
        raise SweepError(f"{out} holds a sweep made by an older pyrl, which did not record its "
                         "full configuration: it cannot be resumed safely; use another --out")
    want = resolve(settings)
    diff = [k for k in ("factors", "methods", "seeds") if have.get(k) != want[k]]
    old, new = have.get("config", {}), want["config"]
    # options a newer pyrl added, at their defaults: what the older sweep meant (resumable)
    added = {k: v for k, v in new.items() if k not in old and at_default(k, v)}
    diff += sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in added)
    if diff:
        shown = ", ".join(f"{k} ({_show(have, k)} -> {_show(want, k)})" for k in diff)
        from_row = [k for k in diff if k in (settings.get("task_defaults") or {})]
        hint = (f"; {', '.join(from_row)} came from the env's row of tuned settings (pyrl.train.tasks), which "
                "has changed since: give the sweep's value as a flag to resume it") if from_row else ""
        raise SweepError(f"{out} holds a sweep with other settings (differ: {shown}); "
                         f"use another --out, or the same settings to resume it{hint}")
    return have, added


def floor(sweep_def: dict[str, Any]) -> dict[str, Any]:
    """The random-policy score of the sweep's env (``pyrl.train.evaluate.random_policy_score``);
    where ``env`` is a factor, a mapping from each of its levels to its floor."""
    from pyrl.train.evaluate import random_policy_score

    if "env" in sweep_def["config"]:
        return random_policy_score(sweep_def["config"]["env"])
    return {env: random_policy_score(env) for env in sweep_def["factors"]["env"]}


def reference(sweep_def: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The env's reference score from its row of tuned settings (``pyrl.train.tasks``), or None
    without one (or where ``env`` is a factor)."""
    from pyrl.train.tasks import task

    row = task(sweep_def["config"].get("env", ""))
    if row is None or row.reference is None:
        return None
    return {"score": row.reference, "source": row.reference_source}


# ---- suites: one sweep per env under one directory

SUITES: dict[str, tuple[str, ...]] = {
    # issue 23's three memory tasks of RL Zoo's RecurrentPPO benchmark (MountainCarContinuousNoVel-v0, the
    # fourth, is offered but left out: bench/README.md, "Per-task defaults")
    "memory": ("CartPoleNoVel-v1", "PendulumNoVel-v1", "LunarLanderNoVel-v3"),
}


def check_suite(out: Path, envs: list[str]) -> bool:
    """Whether ``out`` already is the suite of ``envs``; False where it holds nothing yet;
    SweepError where it holds a single sweep, another suite, or an unreadable suite.json."""
    out = Path(out)
    if (out / MANIFEST).exists():
        raise SweepError(f"{out} holds a single-env sweep; use another --out for a suite")
    path = out / SUITE
    if not path.exists():
        return False
    try:
        have = json.loads(path.read_text()).get("envs")
    except (OSError, ValueError, AttributeError) as exc:
        raise SweepError(f"{path}: unreadable ({exc}); use another --out") from None
    if have != envs:
        raise SweepError(f"{out} holds a suite of other envs ({', '.join(have or [])}); use another --out, "
                         "or the same envs to resume it")
    return True


def prepare_suite(out: Path, envs: list[str]) -> None:
    """Create ``out`` as a suite of ``envs`` (suite.json), or check that it is that suite
    (``check_suite``), under ``out``'s lock: two first starts with other envs cannot both write
    (the second finds the first's suite.json, or its lock)."""
    with locked(Path(out)):
        if check_suite(out, envs):
            return
        write_json_atomic(Path(out) / SUITE, {"format": 1, "pyrl": _version(), "envs": envs,
                                              "created": time.strftime("%Y-%m-%dT%H:%M:%S")})


def _show(doc: dict, key: str) -> str:
    value = doc[key] if key in ("factors", "methods", "seeds") else doc.get("config", {}).get(key, "unset")
    return json.dumps(value)


def finished(out: Path, spec: RunSpec) -> Optional[dict]:
    """The run's result if it has a learning outcome (ok, diverged), else None (absent, or
    failed: to be trained again)."""
    path = out / spec.run_id / RESULT
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return result if result.get("status") in FINISHED else None


def store(out: Path, spec: RunSpec, files: dict[str, bytes]) -> dict[str, Any]:
    """Put a run's files in place as ``out/run_id``, whole: staged in a hidden directory (each
    file written and synced, result.json last), then renamed over any earlier attempt."""
    stage = Path(tempfile.mkdtemp(prefix=f".stage-{spec.run_id}-", dir=out))
    for name, data in files.items():
        if name != RESULT:
            write_bytes_atomic(stage / name, data)
    write_bytes_atomic(stage / RESULT, files[RESULT])
    run_dir = out / spec.run_id
    if run_dir.exists():  # a failed attempt, or leftovers of a run killed before it finished
        old = Path(tempfile.mkdtemp(prefix=f".old-{spec.run_id}-", dir=out))
        os.rename(run_dir, old / "run")
        os.rename(stage, run_dir)
        shutil.rmtree(old)
    else:
        os.rename(stage, run_dir)
    return json.loads(files[RESULT])


def _clean_stale(out: Path) -> None:
    """Hidden staging directories left by a driver that died mid-store (we hold the lock)."""
    for p in out.iterdir():
        if p.is_dir() and (p.name.startswith(".stage-") or p.name.startswith(".old-")):
            shutil.rmtree(p, ignore_errors=True)


# ---- executing one run (in a pool process or a Ray task) ----

def execute(spec: RunSpec) -> dict[str, bytes]:
    """Train one run in a scratch directory and return its files as bytes, result.json tagged
    with the run's id and factor levels. Never raises for a training failure: a run that
    breaks comes back as a result with status failed."""
    from pyrl.train.config import TrainConfig
    from pyrl.train.run import train

    scratch = Path(tempfile.mkdtemp(prefix="pyrl-run-"))
    try:
        try:
            train(TrainConfig(**spec.train_kwargs), scratch)
        except Exception as exc:  # the run failed to start or crashed outside its workers
            return _failure(spec, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=5))
        files = {p.name: p.read_bytes() for p in scratch.iterdir() if p.is_file()}
        files[RESULT] = _tagged(spec, json.loads(files[RESULT]))
        return files
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _tagged(spec: RunSpec, result: dict) -> bytes:
    result.update(run_id=spec.run_id, factors=spec.factors)
    return json.dumps(result).encode()


def _pool_init() -> None:
    import ctypes
    import signal

    # If the driver dies (even SIGKILL), take the pool process with it (Linux).
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    # Ctrl-C is the driver's to handle (it stops the pool, see run_local): ignored here for
    # good. The process started with SIGINT blocked (inherited through exec), so a Ctrl-C during
    # its imports waited, pending; ignoring discards it, then unblocking lets nothing through.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


# ---- executors: each yields (spec, files) as runs finish ----

def run_local(specs: list[RunSpec], jobs: int, on_start: Callable[[RunSpec], None]) -> Iterator[tuple[RunSpec, dict]]:
    import multiprocessing as mp
    import signal

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_pool_init)
    try:
        pending = {}
        queue = list(specs)
        while queue or pending:
            while queue and len(pending) < jobs:
                spec = queue.pop(0)
                # a pool process starts with SIGINT blocked (the mask passes through exec), so a
                # Ctrl-C during its imports cannot kill it with a traceback (see _pool_init); here
                # a Ctrl-C waits the few milliseconds of the submit, then arrives
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    pending[pool.submit(execute, spec)] = spec
                finally:
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
                on_start(spec)
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                spec = pending.pop(fut)
                yield spec, _files_or_failure(spec, fut)
    except BaseException:
        # Ctrl-C (or the driver failing): a run in flight is not stored anyway, so its process
        # is stopped here (its workers die with it, watching their parent)
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


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
        _connect_ray(ray, address or os.environ.get("RAY_ADDRESS") or None)
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


def _connect_ray(ray, address: Optional[str]) -> None:
    """ray.init, or a one-line SweepError within seconds: Ray itself retries a dead address
    for minutes, and raises tracebacks for other connection failures."""
    if address not in (None, "auto", "local"):
        _probe_grpc(address)
    try:
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # connection refused, version mismatch, authentication, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SweepError(f"cannot connect to Ray at {address or 'a new local instance'}: {first}") from None


def _probe_grpc(address: str, timeout: float = 3.0) -> None:
    """Raises SweepError unless Ray answers at ``address`` within seconds: for host:port, its
    GCS answers a cluster-id request (gRPC); for a ray://host:port client address, something
    accepts the connection."""
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        host, port = rest, "10001" if address.startswith("ray://") else "6379"
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__  # refused, timed out, unknown host
        raise SweepError(f"no Ray cluster at {address}: {why}") from None
    if address.startswith("ray://"):
        return
    import grpc

    try:  # the token a cluster with token authentication wants (RAY_AUTH_TOKEN, ...), as Ray sends it
        from ray._private.authentication.grpc_authentication_client_interceptor import (
            _get_authentication_metadata_tuple as auth_metadata)
    except ImportError:  # a Ray without authentication
        auth_metadata = tuple
    try:
        metadata = auth_metadata()
    except Exception as exc:  # e.g. token authentication asked for, but no token found
        raise SweepError(f"Ray at {address}: {str(exc).split('. ')[0]}") from None
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        ask = channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId")
        try:  # an empty request is a valid (default) protobuf message
            ask(b"", timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise SweepError(f"the Ray cluster at {address} refused this client: {exc.details()}") from None
            raise SweepError(f"no Ray cluster at {address}: something listens there, but its answer "
                             f"is not Ray's ({exc.code().name})") from None


def _files_or_failure(spec: RunSpec, fut) -> dict[str, bytes]:
    try:
        return fut.result()
    except Exception as exc:  # the pool process died (killed, out of memory)
        return _failure(spec, f"run process died: {type(exc).__name__}: {exc}")


def _failure(spec: RunSpec, error: str, trace: Optional[str] = None) -> dict[str, bytes]:
    result = {"status": "failed", "error": error, "traceback": trace, "method": spec.method,
              "seed": spec.seed, "config": spec.train_kwargs, "workers": []}
    return {RESULT: _tagged(spec, result)}


# ---- the sweep ----

@dataclass
class SweepEvent:
    kind: str                    # "skip" (finished) | "retry" (failed before) | "start" | "done"
    spec: RunSpec
    result: Optional[dict] = None


def sweep(settings: dict[str, Any], out: Path, backend: str = "local", jobs: Optional[int] = None,
          ray_address: Optional[str] = None,
          on_event: Callable[[SweepEvent], None] = lambda e: None) -> list[dict[str, Any]]:
    """Run every unfinished run of the grid into ``out`` (failed ones again), holding the
    directory's lock throughout; return the results of the runs done now. ``on_event`` sees
    skips, retries, starts and completions (for a progress display)."""
    if backend not in ("local", "ray"):
        raise SweepError(f"unknown backend {backend!r} (local or ray)")
    out = Path(out)
    specs = grid(settings)
    with locked(out):
        prepare(out, settings)
        _clean_stale(out)
        todo = []
        for spec in specs:
            if finished(out, spec):
                on_event(SweepEvent("skip", spec))
                continue
            if (out / spec.run_id / RESULT).exists():
                on_event(SweepEvent("retry", spec, json.loads((out / spec.run_id / RESULT).read_text())))
            todo.append(spec)
        if not todo:
            return []
        start = lambda spec: on_event(SweepEvent("start", spec))  # noqa: E731
        config = specs[0].train_kwargs
        if backend == "local":
            jobs = jobs or max(1, (os.cpu_count() or 1) // config["workers"])  # a run uses W cores
            stream = run_local(todo, jobs, start)
        else:
            gpus = 0 if config["device"] == "cpu" else 1
            stream = run_ray(todo, config["workers"], gpus, ray_address, start)
        results = []
        for spec, files in stream:
            if json.loads(files[RESULT]).get("status") == "interrupted":
                continue  # stopped by Ctrl-C, not finished: not stored, so a rerun trains it again
            result = store(out, spec, files)
            results.append(result)
            on_event(SweepEvent("done", spec, result))
        return results
