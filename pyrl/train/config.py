"""The configuration of one training run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

METHODS = ("a3c", "individual")
OPTIMIZERS = ("adam", "rmsprop")


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
    layernorm: bool = False
    """LayerNorm everywhere the model has it (after the encoder, and the GRU's gains)."""
    hidden: int = 64
    """Hidden size of the encoder layers and the core."""
    separate_critic: bool = True
    """The value head reads its own encoder (and core), not the policy's (as SB3's MlpPolicy):
    2.2x fewer steps to 475 on CartPole-v1 than a shared trunk (bench/README.md, issue 13)."""
    lr: float = 7e-4
    """Learning rate."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over each worker's share of the steps (RL Zoo's lin_)."""
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
    max_grad_norm: float = 0.5
    """Gradient clipping (global norm)."""
    score_episodes: int = 10
    """A worker's score: mean return of its last this-many training episodes."""
    device: str = "cpu"
    """Where the models live and learn: cpu, cuda or cuda:K. The envs always step on the CPU."""
    extra: dict = field(default_factory=dict)
    """Free-form metadata carried into result.json."""

    def check(self) -> None:
        """Raises ValueError with a one-line message for impossible settings."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r} (choose from {', '.join(METHODS)})")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
        for name in ("workers", "envs_per_worker", "rollout", "hidden", "score_episodes", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ValueError("gamma and gae_lambda must lie in [0, 1]")
        check_device(self.device)
        if self.steps < self.updates_per_worker_floor:
            raise ValueError(
                f"steps {self.steps} is less than one rollout of every worker "
                f"(rollout x envs_per_worker x workers = {self.updates_per_worker_floor})")

    @property
    def updates_per_worker_floor(self) -> int:
        return self.rollout * self.envs_per_worker * self.workers

    @property
    def updates_per_worker(self) -> int:
        """Each worker's number of rollouts: its share of --steps, in whole rollouts."""
        return self.steps // self.workers // (self.rollout * self.envs_per_worker)

    def to_dict(self) -> dict:
        return asdict(self)


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
