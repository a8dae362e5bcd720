"""`History`: one record per epoch (phase, mean loss terms, val loss, lr, seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class History:
    """Per-epoch records and the early-stopping outcome per phase.

    records: dicts with `epoch` (global, from 0), `phase`, `phase_epoch`, the batch-size
    weighted mean of every term `training_loss` returned, `val_loss` (or None), `lr`, `time_s`.
    best_epoch: phase -> global epoch whose weights were kept (by val loss).
    stopped_early: phases that early stopping ended before their epoch budget.
    """

    records: list[dict] = field(default_factory=list)
    best_epoch: dict[str, int] = field(default_factory=dict)
    stopped_early: list[str] = field(default_factory=list)

    def column(self, key: str) -> list:
        """The value of `key` in every record (None where absent)."""
        return [r.get(key) for r in self.records]

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        return {"records": self.records, "best_epoch": self.best_epoch, "stopped_early": self.stopped_early}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """Inverse of `to_dict`."""
        return cls(
            records=list(d.get("records", [])),
            best_epoch=dict(d.get("best_epoch", {})),
            stopped_early=list(d.get("stopped_early", [])),
        )
