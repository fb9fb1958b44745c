"""The one worker loop of both methods: collect a rollout, advantages, loss, step, report.

The methods differ in one place, ``make_targets``: which model and optimizer the worker
steps. For ``a3c`` those are the global model and optimizer state in shared memory, stepped
lock-free (Hogwild); for ``individual`` the worker builds its own. Everything else,
including the local copy the worker acts and differentiates with, is the same code, which is
why one A3C worker and one individual worker with the same seed end bit-identical.

On a GPU (``device`` cuda) the envs still step on the CPU; the models, the optimizer state
and the rollout live on the GPU. Per env step the worker sends the observations [N,...] over
and takes the actions [N,...] back, so the model sees all N envs in one batched forward. For
``a3c`` the global model and optimizer state are CUDA tensors the parent allocated and the
workers map through CUDA IPC (torch.multiprocessing), so Hogwild stays what it is on the CPU:
every worker's optimizer step writes the same memory, without locks. Each worker process has
its own CUDA context; the parent keeps the shared tensors alive until the workers are gone.
Unpickling those tensors starts CUDA in the worker before ``run_worker`` installs the parent's
environment, so CUDA reads the variables the fork server started with.
"""
from __future__ import annotations

import math
import os
import time
import traceback
from pathlib import Path
from typing import Optional

import torch

from pyrl import ops
from pyrl.train.config import TrainConfig
from pyrl.train.optim import SharedOptimizer

REPORT_S = 0.1  # seconds between a worker's progress reports


class _Clock:
    """Seconds a worker spends in each phase of its loop (``train(..., profile=True)``, ``pyrl
    bench profile``). Off, ``lap`` returns at once and ``timing`` hands the function back."""

    def __init__(self, on: bool):
        self.on, self.spent, self.t = on, {}, time.perf_counter()

    def lap(self, phase: str) -> None:
        """Charge the time since the last lap to ``phase``."""
        if self.on:
            now = time.perf_counter()
            self.spent[phase] = self.spent.get(phase, 0.0) + now - self.t
            self.t = now

    def timing(self, fn, phase: str):
        """``fn``, its calls also charged to ``phase`` (they lie inside another phase's laps)."""
        if not self.on:
            return fn

        def timed(*args):
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.spent[phase] = self.spent.get(phase, 0.0) + time.perf_counter() - t0
        return timed


def model_seed(cfg: TrainConfig, worker: int) -> int:
    """Initialisation seed: the A3C global model uses worker 0's, so W=1 runs coincide."""
    return cfg.seed * 7919 + worker


def worker_seed(cfg: TrainConfig, worker: int) -> int:
    """Env and action-sampling seed of a worker (its N envs: this seed + i)."""
    return (cfg.seed * 1_000_003 + worker * 10_007) % 2**31


def eval_seed(cfg: TrainConfig) -> int:
    """Env and action-sampling seed of the fixed-policy evaluation after training (its up to 8
    envs: this seed + i): half the seed range away from the training envs' seeds, so clear of
    them for any realistic W and N, and the same for both methods of a seed (the A3C and the
    individual models of a seed meet the same evaluation episodes)."""
    return (worker_seed(cfg, 0) + 2**30) % 2**31


def build_model(cfg: TrainConfig, obs_shape, action_space, seed: int):
    from pyrl.nn import ActorCritic

    torch.default_generator.manual_seed(seed)  # the init draws on the CPU; CUDA's RNGs are left alone
    return ActorCritic(obs_shape, action_space, hidden=cfg.hidden, rnn=cfg.rnn, norm=cfg.norm,
                       separate_critic=cfg.separate_critic, obs_norm=cfg.obs_norm)


def cpu_state_dict(model) -> dict:
    """The model's tensors as CPU copies (CPU tensors as they are): what a saved model holds,
    so that it loads on a machine without a GPU."""
    return {k: v.cpu() for k, v in model.state_dict().items()}


def make_optimizer(cfg: TrainConfig, model) -> SharedOptimizer:
    return SharedOptimizer(model.parameters(), kind=cfg.optimizer, lr=cfg.lr)


def make_targets(cfg, wid, env, shared_model, shared_opt):
    """THE switch between the methods: the model and optimizer this worker steps."""
    if cfg.method == "a3c":
        return shared_model, shared_opt
    model = build_model(cfg, env.observation_space.shape, env.action_space, model_seed(cfg, wid)).to(cfg.device)
    return model, make_optimizer(cfg, model)


def run_worker(wid: int, cfg: TrainConfig, shared_model, shared_opt, conn, stop, out_dir: Optional[str],
               environ: Optional[dict] = None, profile: bool = False) -> None:
    """Entry point of a worker process. Reports over ``conn`` (its own pipe to the parent) and
    stops when the shared flag ``stop`` [1] is set; never raises. ``environ``: the parent's
    environment now (a fork server's children inherit the server's, from its start). ``profile``:
    time the loop's phases and send them with the last message."""
    _bind_to_parent()
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    failed = False
    try:
        _loop(wid, cfg, shared_model, shared_opt, conn, stop, out_dir, _Clock(profile))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        conn.send(("error", wid, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8)))
        failed = True
    del shared_model, shared_opt
    _release_shared_tensors(cfg)
    if failed:
        raise SystemExit(1)


def _release_shared_tensors(cfg: TrainConfig) -> None:
    """Lets go of the global model and optimizer state before the process ends. A CUDA tensor
    received through IPC counts as in use in the parent until the receiver frees it, and a
    process ends with os._exit, which frees nothing: the parent could not reuse that memory
    and torch would warn at its exit. The Process object holds its arguments, so those go too."""
    import gc
    import multiprocessing

    multiprocessing.current_process()._args = ()  # the only other reference to the shared tensors
    if torch.device(cfg.device).type == "cuda":
        torch.cuda.synchronize()  # no kernel of this process still reads them
    gc.collect()


def _bind_to_parent() -> None:
    """Ctrl-C reaches every process of the terminal: the parent alone handles it and stops
    the workers through its event, so they end their loop and keep what they finished. And a
    worker must not outlive its parent, even one killed with SIGKILL: a thread waits on the
    parent's sentinel (a pipe that closes when the parent dies) and kills the worker then.
    Not PR_SET_PDEATHSIG: a fork server's children have the server as their parent, and the
    server lives as long as any of its children hold its pipe."""
    import signal
    import threading
    from multiprocessing import parent_process
    from multiprocessing.connection import wait

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = parent_process()
    if parent is not None:
        def die_with_parent():
            wait([parent.sentinel])
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=die_with_parent, name="pyrl-parent-watch", daemon=True).start()


def _loop(wid, cfg, shared_model, shared_opt, conn, stop, out_dir, clock):
    from pyrl.envs import make
    from pyrl.rollout import EpisodeStats, RolloutStore, collect

    torch.set_num_threads(1)  # W workers must not oversubscribe the cores
    device = torch.device(cfg.device)
    seed = worker_seed(cfg, wid)
    gen = torch.Generator(device=device).manual_seed(seed)  # draws the actions, where the policy is
    env = make(cfg.env, cfg.envs_per_worker, seed=seed, num_threads=1)
    target, opt = make_targets(cfg, wid, env, shared_model, shared_opt)
    local = build_model(cfg, env.observation_space.shape, env.action_space, model_seed(cfg, wid)).to(device)
    store = RolloutStore.for_env(env, cfg.rollout, device)
    stats = EpisodeStats(cfg.envs_per_worker, worker=wid)
    obs, _ = env.reset()
    store.start(obs)
    state = local.initial_state(cfg.envs_per_worker)  # [N,H]
    fail_after = int(os.environ.get("PYRL_TEST_FAIL_AFTER", "-1"))  # fault tests only
    nan_after = int(os.environ.get("PYRL_TEST_DIVERGE_AFTER", "-1"))  # fault tests only
    steps = 0
    local_params, target_params = list(local.parameters()), list(target.parameters())
    # what the worker acts and differentiates with: the parameters, and BatchNorm's running
    # statistics (buffers) if the model has them
    local_state, target_state = local_params + list(local.buffers()), target_params + list(target.buffers())
    # the training update's compiled ops (one call each) where every tensor is a contiguous CPU
    # float tensor, the references' multi-tensor ops elsewhere (CUDA); the gradients' layout is
    # known at the first update
    refresh = ops.refresh if ops.update_fusable(local_state, target_state) else ops.refresh_reference
    clip_grad_norm = None
    refresh(local_state, target_state)
    last_report, unreported, last_losses = 0.0, [], None

    def report():
        nonlocal last_report, unreported
        names = ("loss", "policy_loss", "value_loss", "entropy", "grad_norm", "lr")
        # the losses are tensors of the graph, the gradient norm a float
        losses = ({k: v.item() if isinstance(v, torch.Tensor) else v for k, v in zip(names, last_losses)}
                  if last_losses else {})
        conn.send(("progress", wid, steps, unreported, losses))
        last_report, unreported = time.monotonic(), []

    finished = False  # the worker's whole budget (not a stop)
    try:
        for update in range(cfg.updates_per_worker):
            if stop.item():
                break
            if update == fail_after and wid == 1:
                raise RuntimeError("injected failure (PYRL_TEST_FAIL_AFTER)")
            state0 = state.clone()

            def policy(o, reset):  # o [N,...], reset [N]: CPU; the action goes back to the env
                nonlocal state
                a, v, logp, state = local.act(o.to(device, non_blocking=True), state,
                                              reset.to(device, non_blocking=True), generator=gen)
                return a.cpu(), v, logp

            clock.lap("loop")
            collect(env, clock.timing(policy, "act"), store,
                    value_fn=clock.timing(lambda o, reset: local.value(o.to(device), state, reset.to(device)), "act"))
            clock.lap("collect")  # the env steps, the store's bookkeeping, and "act" within
            adv, ret, valid = store.advantages(cfg.gamma, cfg.gae_lambda, cfg.reward_scale)
            episodes = stats.update(store.rewards, store.terminated, store.truncated)
            steps += cfg.rollout * cfg.envs_per_worker
            clock.lap("advantages")

            logp, ent, values = local.evaluate(store.obs[:-1], state0, store.reset, store.actions)
            mask = valid.float()
            n = mask.sum().clamp(min=1.0)
            pg_loss = -(logp * adv * mask).sum() / n
            v_loss = 0.5 * (((ret - values) ** 2) * mask).sum() / n
            entropy = (ent * mask).sum() / n
            loss = pg_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
            if update == nan_after and wid == 1:
                loss = loss * math.nan  # a divergence through the real detection path
            for p in local_params:
                p.grad = None
            loss.backward()
            grads = [p.grad for p in local_params]
            if clip_grad_norm is None:
                clip_grad_norm = ops.clip_grad_norm if ops.update_fusable(grads) else ops.clip_grad_norm_reference
            grad_norm = clip_grad_norm(grads, cfg.max_grad_norm)
            bad = ("loss" if not math.isfinite(loss.item()) else
                   "gradient" if not math.isfinite(grad_norm) else None)
            if bad:  # the learner stops here (in a3c the shared one: the parent stops the run)
                report()
                conn.send(("diverged", wid, steps, f"worker {wid}: non-finite {bad} at update {update}"))
                return
            clock.lap("learn")
            if cfg.lr_schedule != "constant":  # the learner's own progress (a3c: every worker's steps)
                opt.lr = cfg.lr_at(float(opt.step_count))
            opt.step(grads)
            target.absorb_batch_statistics(local)  # BatchNorm's feature moments, obs_norm's observation moments
            clock.lap("step")
            # Refresh the local copy and check *it*, a copy_ snapshot of the target. Checking the
            # shared tensors in place is unsound under Hogwild: isfinite may load an element twice
            # (x == x) and see two values while another worker writes, a spurious non-finite.
            first_bad = refresh(local_state, target_state)
            if first_bad >= 0:
                bad = [*dict(local.named_parameters()), *dict(local.named_buffers())][first_bad]
                report()
                conn.send(("diverged", wid, steps, f"worker {wid}: non-finite parameter {bad} after update {update}"))
                return
            clock.lap("sync")
            unreported += [(steps, float(r), int(l)) for _, _, _, r, l in episodes]
            last_losses = (loss, pg_loss, v_loss, entropy, grad_norm, opt.lr)
            # a few reports a second: one per update would cost the worker and the parent a
            # pickle and a wake-up every couple of milliseconds
            if time.monotonic() - last_report >= REPORT_S:
                report()
            clock.lap("report")
        else:
            finished = True
        report()  # the rest, also after a stop: what was finished is kept
        if cfg.method == "individual" and out_dir is not None:
            import io

            from pyrl.results import write_bytes_atomic

            buf = io.BytesIO()
            torch.save(cpu_state_dict(target), buf)
            write_bytes_atomic(Path(out_dir) / f"model_w{wid}.pt", buf.getvalue())
        evaluation = None
        if cfg.method == "individual" and finished and cfg.eval_episodes > 0 and not stop.item():
            # this worker's own model, evaluated here, in parallel with the other workers
            # (an a3c run's one model is evaluated by the parent once every worker is done)
            from pyrl.train.evaluate import fixed_evaluation

            evaluation = fixed_evaluation(cfg, cpu_state_dict(target))
        conn.send(("done", wid, steps, clock.spent if clock.on else None, evaluation))
    finally:
        env.close()
