"""One training run: W worker processes on one worker loop, supervised from the parent.

``train(config, out_dir)`` returns the result (and writes ``result.json`` atomically, last):
status ok | failed | diverged | interrupted, and each worker's own status. The parent watches
the workers: a worker that dies (exception or kill) is noticed within about a second, the
others are stopped, and the run ends ``failed`` naming it. A learner whose loss, gradient or
parameters become non-finite has diverged, a learning outcome: in ``a3c`` the one shared
learner, so the run stops; in ``individual`` that worker's own learner, which stops alone while
the others finish their budget. The run is then ``diverged`` and its workers say which. Nothing is left running and nothing leaks into /dev/shm: the
shared tensors are file-descriptor backed and die with their processes, and the workers
report over pipes, not over named-semaphore queues.

``result.json``: ``status``, ``error``, ``method``, ``env``, ``config`` (every TrainConfig
field), ``seed``, ``steps``, ``wall_s`` (the whole run, its evaluation included), ``sps`` (env
steps per second of training: ``steps / (wall_s - eval_s)``), ``score_mean``, ``losses``,
``stopped_early``, and:

- ``workers``: per worker ``worker``, ``model`` (the model it trained), ``status`` (ok |
  diverged | stopped), ``score`` (mean of its last ``score_episodes`` training returns),
  ``episodes``, ``steps``, ``diverged_at``;
- ``models``: per trained model (a3c: one, model 0, every worker's; individual: one per
  worker, model = worker id) ``model``, ``workers``, ``status`` (ok | diverged | stopped) and
  ``eval``: the fixed-policy evaluation after training, ``{"episodes", "returns", "mean",
  "seed", "action": "sampled", "seconds"}`` (``cfg.eval_episodes`` episodes of the sampled
  policy, the one that was trained, on the env seeds of ``worker.eval_seed``: disjoint from
  training's, the same for both methods of a seed), or null where the model was not evaluated
  (diverged: its parameters are non-finite; stopped; ``eval_episodes`` 0; an a3c run that did
  not end ok). An individual worker evaluates its own model after its budget, in parallel
  with the others; the parent evaluates an a3c run's shared model once every worker is done;
- ``eval_s``: seconds spent evaluating (a3c: in the parent; individual: the longest worker's);
- ``floor``: ``evaluate.random_policy_score(env)``, the mean return of a uniformly random
  policy (100 episodes, seed 0), a divergence floor fixed before any analysis;
- ``profile`` with ``profile=True``.

Reproducibility: ``individual`` runs are deterministic for a seed. A3C with one worker equals
``individual``; with several, the interleaving of lock-free updates is up to the scheduler,
so runs with the same seed agree in distribution, not bit for bit (that is Hogwild).
"""
from __future__ import annotations

import csv
import io
import os
import pickle
import queue as queue_mod
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.multiprocessing as mp

from pyrl.results import write_bytes_atomic, write_json_atomic
from pyrl.train.config import TrainConfig
from pyrl.train.evaluate import fixed_evaluation, random_policy_score
from pyrl.train.worker import build_model, cpu_state_dict, make_optimizer, model_seed, run_worker

POLL_S = 0.25
STOP_S = 5.0  # how long stopping workers get to finish before they are killed


def _spaces(cfg: TrainConfig):
    from pyrl.envs import make

    env = make(cfg.env, 1, seed=0)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


class _Inbox:
    """The workers' messages, read from one pipe per worker, one message per ``get``."""

    def __init__(self, readers):
        self.open = list(readers)

    def get(self, timeout: float):
        from multiprocessing.connection import wait

        for conn in wait(self.open, timeout):
            try:
                return conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                # that worker is gone, maybe killed mid-message; its exit code tells how
                self.open.remove(conn)
                conn.close()
        raise queue_mod.Empty

    def close(self) -> None:
        for conn in self.open:
            conn.close()
        self.open = []


def _worker_context():
    """Workers start from a fork server, a clean process that imported torch, envpool and the
    worker loop once (about 2 s) and forks each worker from there: a run's start-up drops to
    milliseconds after the first. Not a plain fork: envpool's threads do not survive fork,
    and this process may hold envpool envs. Each worker watches this process and dies with it
    (worker.py, ``_bind_to_parent``); the server exits once this process and its workers are gone."""
    import signal
    import threading
    from multiprocessing import forkserver

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "envpool", "pyrl.envs", "pyrl.nn", "pyrl.rollout", "pyrl.train.worker",
                                "pyrl.train.evaluate"])
    if threading.current_thread() is threading.main_thread():
        # Start the server with Ctrl-C ignored (inherited through exec): a Ctrl-C during its
        # imports would print its traceback; this process handles Ctrl-C for the run.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, old)
    return ctx


def train(cfg: TrainConfig, out_dir: Optional[Path], progress: Optional[Callable[[dict], None]] = None,
          tensorboard: bool = False, profile: bool = False,
          until: Optional[Callable[[list, list], bool]] = None) -> dict[str, Any]:
    """Run W workers to the end of the budget (or a failure); see the module docstring.
    ``tensorboard`` writes CleanRL-named scalars under ``out_dir/tb``. ``profile`` adds
    ``profile``: each finished worker's seconds per phase of its loop (``pyrl bench profile``).
    ``until(curve, steps)``, called after each progress report with the episodes so far
    ``(worker, step, return)`` and each worker's steps, ends the run early (status ok,
    ``stopped_early``) once it is true."""
    cfg.check()
    obs_space, act_space = _spaces(cfg)  # an unknown env id fails here, before any process starts
    if cfg.obs_norm:
        from pyrl.envs import check_obs_norm

        check_obs_norm(cfg.env, obs_space)
    floor = random_policy_score(cfg.env)  # ~100 short episodes, before the workers take the cores
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    ctx = _worker_context()
    shared_model = shared_opt = None
    if cfg.method == "a3c":
        # seeding the init must not touch the caller's RNG; devices=[]: the CPU's alone (the init
        # runs on the CPU), so a CPU run on a GPU machine does not start CUDA here
        with torch.random.fork_rng(devices=[]):
            shared_model = build_model(cfg, obs_space.shape, act_space, model_seed(cfg, 0))
        # CPU: shared memory; CUDA: device memory the workers map through CUDA IPC
        shared_model = shared_model.to(cfg.device).share_memory()
        shared_opt = make_optimizer(cfg, shared_model).share_memory_()
    # One pipe per worker and a shared flag, not a multiprocessing Queue and Event: those are
    # named semaphores in /dev/shm, which a process killed with its children leaves behind.
    pipes = [ctx.Pipe(duplex=False) for _ in range(cfg.workers)]  # (parent's reader, worker's writer)
    inbox = _Inbox([r for r, _ in pipes])
    stop = torch.zeros(1, dtype=torch.bool).share_memory_()  # [1]
    procs = [ctx.Process(target=run_worker, args=(w, cfg, shared_model, shared_opt, pipes[w][1], stop,
                                                  str(out) if out else None, dict(os.environ), profile),
                         daemon=True)
             for w in range(cfg.workers)]
    t0 = time.time()
    steps = [0] * cfg.workers
    returns: list[list[float]] = [[] for _ in range(cfg.workers)]
    curve: list[tuple[int, int, float]] = []
    losses: dict[str, float] = {}
    done: set[int] = set()
    spent: dict[int, dict[str, float]] = {}  # worker -> seconds per phase (profile)
    evals: dict[int, dict] = {}       # individual: worker -> its model's evaluation after training
    diverged_at: dict[int, int] = {}  # worker -> its env steps when its learner diverged
    errors: list[str] = []            # what each diverged learner said
    status, error = "ok", None
    stopped_early = False

    def handle(msg) -> tuple[str, Optional[str]]:
        """Apply one worker message; returns the run's (status, error) after it."""
        nonlocal losses
        kind, wid = msg[0], msg[1]
        if kind == "progress":
            steps[wid] = msg[2]
            for step, ret, _length in msg[3]:
                returns[wid].append(ret)
                curve.append((wid, step, ret))
                if writer is not None:
                    writer.add_scalar("charts/episodic_return", ret, sum(steps))
            losses = msg[4]
            if writer is not None:
                writer.add_scalar("charts/SPS", sum(steps) / max(time.time() - t0, 1e-9), sum(steps))
                for name, value in losses.items():  # CleanRL's names
                    writer.add_scalar("charts/learning_rate" if name == "lr" else f"losses/{name}", value, sum(steps))
            if progress is not None:
                progress({"steps": sum(steps), "total": total_steps, "elapsed": time.time() - t0,
                          "recent": [sum(r[-cfg.score_episodes:]) / len(r[-cfg.score_episodes:]) if r else None
                                     for r in returns], "losses": losses})
        elif kind == "done":
            done.add(wid)
            if msg[3] is not None:
                spent[wid] = msg[3]
            if msg[4] is not None:
                evals[wid] = msg[4]
        elif kind == "diverged":
            diverged_at[wid] = msg[2]
            errors.append(msg[3])
            if cfg.method == "a3c":  # the shared learner diverged: every worker steps it
                return "diverged", msg[3]
            done.add(wid)            # an independent learner stops alone
        elif kind == "error":
            return "failed", f"worker {wid} failed: {msg[2]}"
        return "ok", None

    writer = None
    if tensorboard and out is not None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        writer = SummaryWriter(str(out / "tb"))

    total_steps = cfg.updates_per_worker * cfg.rollout * cfg.envs_per_worker * cfg.workers
    try:
        for p in procs:
            p.start()
        for _, w in pipes:
            w.close()  # the worker holds its own end; a reader then sees EOF when its worker is gone
        while len(done) < cfg.workers and status == "ok":
            try:
                msg = inbox.get(timeout=POLL_S)
            except queue_mod.Empty:
                msg = None
            if msg is not None:
                status, error = handle(msg)
                if status == "ok" and until is not None and msg[0] == "progress" and until(curve, steps):
                    stopped_early = True
                    break
            # checked on every pass, also while the other workers keep reporting
            dead = [w for w, p in enumerate(procs) if w not in done and p.exitcode not in (None, 0)]
            if dead and status == "ok":
                # a worker that raised has sent its error first: prefer its own words
                drain_until = time.time() + 1.0
                while status == "ok" and time.time() < drain_until:
                    try:
                        status, error = handle(inbox.get(timeout=POLL_S))
                    except queue_mod.Empty:
                        break
                if status == "ok":  # gone without a word: killed (signal) or crashed hard
                    w = dead[0]
                    code = procs[w].exitcode
                    how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
                    status, error = "failed", f"worker {w} died ({how})"
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user (Ctrl-C)"
    finally:
        stop.fill_(True)
        for _, w in pipes:
            w.close()  # (again, if a start failed: the reader must see EOF once the workers are gone)
        # Read on while the workers stop: their last reports are what they finished, and a
        # worker blocked sending into a full pipe could not exit otherwise.
        deadline = time.time() + STOP_S
        while inbox.open and time.time() < deadline:
            try:
                msg = inbox.get(timeout=POLL_S)
            except queue_mod.Empty:
                continue
            if msg[0] == "progress":
                handle(msg)
        for p in procs:
            if p.pid is not None:  # started
                p.join(timeout=max(0.0, deadline - time.time()))
                if p.is_alive():
                    p.kill()
                    p.join()
        inbox.close()
        if writer is not None:
            writer.close()
    if status == "ok" and diverged_at:  # individual learners that diverged, the others finished
        status, error = "diverged", "; ".join(errors)
    if status == "diverged" and cfg.method == "a3c":  # one shared learner: every worker's diverged
        diverged_at = {w: diverged_at.get(w, steps[w]) for w in range(cfg.workers)}
    workers = []
    for w in range(cfg.workers):
        last = returns[w][-cfg.score_episodes:]  # a diverged learner's: its last before diverging
        # stopped: the run ended (failed, interrupted) before this worker's budget did
        w_status = "diverged" if w in diverged_at else "ok" if w in done else "stopped"
        workers.append({"worker": w, "model": 0 if cfg.method == "a3c" else w, "status": w_status,
                        "score": sum(last) / len(last) if last else None,
                        "episodes": len(returns[w]), "steps": steps[w], "diverged_at": diverged_at.get(w)})
    if cfg.method == "a3c":
        m_status = ("diverged" if status == "diverged" else
                    "ok" if all(w["status"] == "ok" for w in workers) else "stopped")
        models = [{"model": 0, "workers": list(range(cfg.workers)), "status": m_status, "eval": None}]
        if m_status == "ok" and status == "ok" and cfg.eval_episodes > 0:
            # the one shared model, once every worker is done (its parameters are final)
            try:
                models[0]["eval"] = fixed_evaluation(cfg, cpu_state_dict(shared_model))
            except KeyboardInterrupt:
                status, error = "interrupted", "interrupted by the user (Ctrl-C) while evaluating the model"
        eval_s = models[0]["eval"]["seconds"] if models[0]["eval"] else 0.0  # in this process, after training
    else:
        models = [{"model": w["worker"], "workers": [w["worker"]], "status": w["status"],
                   "eval": evals.get(w["worker"]) if w["status"] == "ok" else None} for w in workers]
        # each worker evaluated its own model, in parallel with the others
        eval_s = max((m["eval"]["seconds"] for m in models if m["eval"]), default=0.0)
    wall = time.time() - t0
    train_s = wall - eval_s
    scores = [w["score"] for w in workers if w["score"] is not None]
    result = {
        "status": status, "error": error, "method": cfg.method, "env": cfg.env, "config": cfg.to_dict(),
        "seed": cfg.seed, "steps": sum(steps), "wall_s": wall, "sps": sum(steps) / train_s if train_s > 0 else 0.0,
        "workers": workers, "score_mean": sum(scores) / len(scores) if scores else None,
        "losses": losses, "stopped_early": stopped_early,
        "models": models, "eval_s": eval_s, "floor": floor,
    }
    if profile:
        result["profile"] = {str(w): spent[w] for w in sorted(spent)}
    if out is not None:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["worker", "step", "episode_return"])
        writer.writerows(sorted(curve, key=lambda r: (r[1], r[0])))
        write_bytes_atomic(out / "curve.csv", buf.getvalue().encode())
        meta = {"obs_shape": list(obs_space.shape), "config": cfg.to_dict()}
        if shared_model is not None:
            b = io.BytesIO()
            torch.save(cpu_state_dict(shared_model), b)
            write_bytes_atomic(out / "model.pt", b.getvalue())
        write_json_atomic(out / "model_meta.json", meta)
        write_json_atomic(out / "result.json", result)  # last: its presence means finished
    if shared_model is not None and torch.device(cfg.device).type == "cuda":
        # The workers are gone and have let go of what they mapped through CUDA IPC (a killed
        # one never does): free the global model's memory now, not at this process's exit.
        del shared_model, shared_opt
        torch.cuda.ipc_collect()
    return result
