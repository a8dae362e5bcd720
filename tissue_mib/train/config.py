"""`TrainConfig`: every option of the training loop, serialisable to YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from tissue_mib.checks import check_float, check_int, check_positive, check_seed
from tissue_mib.errors import InputError


@dataclass
class TrainConfig:
    """Options of `train.fit` / `train.predict`.

    epochs: an int (that many epochs in every phase of the method) or {phase: epochs}.
    lr, weight_decay: Adam (weight decay stands for the R(theta) term of Deep SVDD).
    batch_size: target rows per batch. hops: graph neighbourhood depth (GCN layers + 1).
    device: auto|cpu|cuda. precision: auto|fp32|bf16|fp16 (encoders only). threads: torch
    CPU threads during fit/predict (None: torch's default, one per core).
    patience: epochs without a val-loss improvement (> min_delta) before a phase stops;
    None turns early stopping off. The best weights by val loss are restored at the end.
    checkpoint_dir: a checkpoint is written there after every epoch; resume=True continues
    from it. seed: loader order and every RNG the loop touches. contamination: the share of
    anomalous spots expected in the healthy reference (0 <= c < 0.5); the SVDD losses leave out
    that share of each batch's largest distances (a trimmed loss), so a few anomalies in the
    reference do not pull the hypersphere towards them.
    """

    epochs: int | dict[str, int] = 20
    lr: float = 1e-4
    weight_decay: float = 0.1
    batch_size: int = 128
    hops: int = 3
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    seed: int = 0
    patience: int | None = 10
    min_delta: float = 0.0
    checkpoint_dir: str | None = None
    resume: bool = False
    contamination: float = 0.0

    def __post_init__(self):
        if isinstance(self.epochs, dict):
            self.epochs = {str(p): check_int(n, name=f"train config epochs.{p}", lo=1) for p, n in self.epochs.items()}
        else:
            self.epochs = check_int(self.epochs, name="train config epochs", lo=1)
        self.lr = check_positive(self.lr, name="train config lr")
        self.weight_decay = check_float(self.weight_decay, name="train config weight_decay", lo=0.0)
        self.batch_size = check_int(self.batch_size, name="train config batch_size", lo=1)
        self.hops = check_int(self.hops, name="train config hops", lo=1)
        if self.threads is not None:
            self.threads = check_int(self.threads, name="train config threads", lo=1)
        self.seed = check_seed(self.seed, name="train config seed")
        if self.patience is not None:
            self.patience = check_int(self.patience, name="train config patience", lo=0)
        self.min_delta = check_float(self.min_delta, name="train config min_delta", lo=0.0)
        self.contamination = check_float(self.contamination, name="train config contamination", lo=0.0, hi=0.5, hi_open=True)

    def epochs_for(self, phases: tuple[str, ...]) -> dict[str, int]:
        """Epochs per phase, in the method's phase order."""
        if isinstance(self.epochs, int):
            return {p: int(self.epochs) for p in phases}
        unknown = set(self.epochs) - set(phases)
        missing = [p for p in phases if p not in self.epochs]
        if unknown or missing:
            raise InputError(
                f"TrainConfig.epochs: phases {sorted(self.epochs)} do not match the method's phases {list(phases)}"
            )
        return {p: int(self.epochs[p]) for p in phases}

    def to_dict(self) -> dict:
        """Plain values for YAML."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of `to_dict`; unknown keys raise InputError naming them."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"train config: unknown keys {unknown}; known: {sorted(names)}")
        return cls(**d)
