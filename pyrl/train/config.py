"""The configuration of one training run."""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field

METHODS = ("a3c", "individual")
OPTIMIZERS = ("adam", "rmsprop")
LR_SCHEDULES = ("constant", "linear")
NORMS = ("none", "layernorm", "rmsnorm", "batchnorm")


@dataclass
class TrainConfig:
    method: str = "a3c"
    """a3c: the workers share one model and optimizer (Hogwild); individual: each owns its own."""
    env: str = "CartPole-v1"
    """Environment id (envpool, else Gymnasium)."""
    workers: int = 2
    """Worker processes W."""
    envs_per_worker: int = 8
    """Envs N stepped together by each worker."""
    steps: int = 300_000
    """Total env steps of the run, split evenly over the workers."""
    rollout: int = 5
    """Rollout length T: env steps per env between two updates. 5 (as in the A3C paper's
    t_max range) learns CartPole-v1 in 300k steps where 20 stalls near 170 (bench/README.md)."""
    seed: int = 0
    """Every source of randomness derives from it."""
    rnn: bool = False
    """Recurrent core (the fused LN-GRU)."""
    norm: str = "none"
    """Normalisation: none, layernorm or rmsnorm (after the encoder, and inside the GRU on both
    products), or batchnorm (after the encoder only; see pyrl.nn.RunningBatchNorm)."""
    hidden: int = 64
    """Hidden size of the encoder layers and the core."""
    separate_critic: bool = True
    """The value head reads its own encoder (and core), not the policy's (as SB3's MlpPolicy):
    about 2x fewer steps to 475 on CartPole-v1 than a shared trunk (bench/README.md, issue 13)."""
    lr: float = 7e-4
    """Learning rate."""
    lr_schedule: str = "constant"
    """constant, or linear: decayed linearly to 0 over the learner's updates, as the A3C paper
    anneals it and RL Zoo's ``lin_`` rows do (``lr_at``)."""
    optimizer: str = "adam"
    """adam, or rmsprop (shared statistics, as in the A3C paper)."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda (1.0: the n-step returns of the A3C paper)."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient (0.01 keeps A3C on CartPole-v1 below 475 at 300k steps)."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    reward_scale: float = 1.0
    """A constant the rewards are multiplied by before the returns and advantages (as RL Zoo's
    reward scaling; a constant, not running statistics, so A3C and individual learners get the
    same transform without sharing anything). Scores and evaluations stay in raw rewards."""
    obs_norm: bool = False
    """Normalise the observations by their running mean and variance, clipped to +-10, as SB3's
    VecNormalize (``pyrl.nn.RunningObsNorm``; vector observations). The statistics are buffers of
    the model: saved with it, shared under A3C like its parameters, each individual learner's own."""
    max_grad_norm: float = 0.5
    """Gradient clipping (global norm)."""
    score_episodes: int = 10
    """A worker's score: mean return of its last this-many training episodes."""
    device: str = "cpu"
    """Where the models live and learn: cpu, cuda or cuda:K. The envs always step on the CPU."""
    eval_episodes: int = 20
    """Episodes of the fixed-policy evaluation of every trained model after training (0: none)."""
    extra: dict = field(default_factory=dict)
    """Free-form metadata carried into result.json."""

    def check(self, here: bool = True) -> None:
        """Raises ValueError with a one-line message for impossible settings. ``here``: also
        that this machine has the device (a Ray driver need not have its cluster's GPUs)."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r} (choose from {', '.join(METHODS)})")
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r} (choose from {', '.join(NORMS)})")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r} (choose from {', '.join(LR_SCHEDULES)})")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
        for name in ("workers", "envs_per_worker", "rollout", "hidden", "score_episodes", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.eval_episodes < 0:
            raise ValueError(f"eval_episodes must be at least 0, got {self.eval_episodes}")
        if not self.reward_scale > 0:
            raise ValueError(f"reward_scale must be positive, got {self.reward_scale}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ValueError("gamma and gae_lambda must lie in [0, 1]")
        check_device(self.device, here)
        if self.steps < self.updates_per_worker_floor:
            raise ValueError(
                f"steps {self.steps} is less than one rollout of every worker "
                f"(rollout x envs_per_worker x workers = {self.updates_per_worker_floor})")

    @property
    def learner_updates(self) -> int:
        """The updates one learner takes over the run: an A3C run's one model is stepped by
        every worker, an individual learner by its own."""
        return self.updates_per_worker * (self.workers if self.method == "a3c" else 1)

    def lr_at(self, updates_done: float) -> float:
        """The learning rate of a learner's next update after ``updates_done`` of its own (an
        A3C model's: every worker's, the shared optimizer's step count): constant, or linear
        from ``lr`` to 0 at ``learner_updates``."""
        if self.lr_schedule == "constant":
            return self.lr
        return self.lr * max(0.0, 1.0 - updates_done / self.learner_updates)

    @property
    def updates_per_worker_floor(self) -> int:
        return self.rollout * self.envs_per_worker * self.workers

    @property
    def updates_per_worker(self) -> int:
        """Each worker's number of rollouts: its share of --steps, in whole rollouts."""
        return self.steps // self.workers // (self.rollout * self.envs_per_worker)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A configuration as result.json or model_meta.json holds it, also from older pyrl
        (``layernorm: bool`` before ``norm``; no ``separate_critic`` before it existed, when
        the heads shared one trunk; no ``eval_episodes``: the default); an unknown key is a
        ValueError."""
        d = dict(d)
        if "layernorm" in d:
            d.setdefault("norm", "layernorm" if d.pop("layernorm") else "none")
        d.setdefault("separate_critic", False)
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown training option(s) {', '.join(unknown)} (a newer pyrl's run?)")
        return cls(**d)


def at_default(key: str, value) -> bool:
    """Whether ``key`` is a TrainConfig field whose default is ``value``: a configuration written
    before the field existed (an older pyrl's sweep.json or result.json) meant that value."""
    f = TrainConfig.__dataclass_fields__.get(key)
    return f is not None and f.default is not MISSING and f.default == value


def check_device(device: str, here: bool = True) -> str:
    """``device`` as torch spells it, if this machine can train there (``here``; else only
    the spelling is checked: a Ray driver may have no GPU its cluster has); else ValueError
    with a one-line message. Asks the CUDA driver whether a GPU is visible (makes no context)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r} (cpu, cuda or cuda:K)") from None
    if dev.type == "cpu":
        return "cpu"
    if dev.type != "cuda":
        raise ValueError(f"unsupported device {device!r} (cpu, cuda or cuda:K)")
    if not here:
        return str(dev)
    if not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ValueError(f"device {device!r}: {why} (torch {torch.__version__})")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return str(dev)


# A factor of an ablation is a TrainConfig field, or one of these spellings of one: the study's
# on/off "layernorm" is norm = layernorm (on) or none (off).
FACTOR_ALIASES = {"layernorm": ("norm", {True: "layernorm", False: "none"})}


def factor_options(levels: dict) -> dict:
    """TrainConfig keyword arguments for one cell's factor levels."""
    options = {}
    for name, level in levels.items():
        field, mapping = FACTOR_ALIASES.get(name, (name, None))
        options[field] = mapping[level] if mapping is not None else level
    return options
