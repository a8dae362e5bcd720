"""Held-out healthy rows for early stopping and split-conformal calibration (DESIGN.md section 5).

With at least `min_sections` sections, whole sections are held out (ceil(fraction x
sections), at least one). With fewer, square spatial blocks of about `block_um` micrometres
are held out in every section, and a one-spot buffer ring (training rows adjacent to a
held-out row in the spot graph) is dropped from training: random spots would be graph
neighbours of training spots and make the p-values anti-conservative.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)

MODES = ("auto", "sections", "blocks")


@dataclass
class Holdout:
    """Row indices (into the training cohort) of the split.

    mode: "sections" or "blocks". train: rows to train on. holdout: held-out rows.
    buffer: rows dropped from both (blocks only). groups: held-out section ids (sections only).
    """

    mode: str
    train: np.ndarray
    holdout: np.ndarray
    buffer: np.ndarray
    groups: list[int]
    fraction: float
    block_um: float
    seed: int

    def to_dict(self) -> dict:
        """Plain values for holdout.json."""
        return {
            "mode": self.mode, "fraction": self.fraction, "block_um": self.block_um, "seed": self.seed,
            "groups": [int(g) for g in self.groups], "n_train": int(self.train.size),
            "n_holdout": int(self.holdout.size), "n_buffer": int(self.buffer.size),
            "holdout_rows": self.holdout.tolist(), "buffer_rows": self.buffer.tolist(),
        }  # fmt: skip


def split_holdout(
    groups: np.ndarray,
    *,
    coords_um: np.ndarray | None = None,
    edge_index: np.ndarray | None = None,
    mode: str = "auto",
    fraction: float = 0.15,
    block_um: float = 1000.0,
    min_sections: int = 3,
    seed: int = 0,
) -> Holdout:
    """Split rows into train / held-out (/ buffer).

    groups: (N,) section id per row. coords_um: (N, 2) spot centres in micrometres (blocks).
    edge_index: (2, E) spot graph over the N rows (the blocks' buffer ring).
    """
    if not 0 < fraction < 1:
        raise InputError(f"holdout fraction must be in (0, 1), got {fraction}")
    groups = np.asarray(groups)
    sections = np.unique(groups)
    mode = resolve_mode(mode, n_sections=len(sections), min_sections=min_sections)
    rng = np.random.default_rng(seed)
    if mode == "sections":
        if len(sections) < 2:
            raise InputError("holdout 'sections' needs at least 2 training sections; use holdout='blocks'")
        n_hold = min(len(sections) - 1, max(1, math.ceil(fraction * len(sections))))
        held = np.sort(rng.choice(sections, size=n_hold, replace=False))
        mask = np.isin(groups, held)
        split = Holdout("sections", np.flatnonzero(~mask), np.flatnonzero(mask), np.zeros(0, np.int64),
                        [int(g) for g in held], fraction, block_um, seed)  # fmt: skip
    else:
        if coords_um is None:
            raise InputError("holdout 'blocks' needs spot coordinates in micrometres (coords_um)")
        mask = np.zeros(len(groups), dtype=bool)
        for g in sections:
            rows = np.flatnonzero(groups == g)
            mask[rows[_pick_blocks(np.asarray(coords_um)[rows], fraction, block_um, rng)]] = True
        buffer = _ring(mask, edge_index)
        split = Holdout("blocks", np.flatnonzero(~mask & ~buffer), np.flatnonzero(mask), np.flatnonzero(buffer),
                        [], fraction, block_um, seed)  # fmt: skip
    if split.train.size == 0 or split.holdout.size == 0:
        raise InputError(f"holdout '{split.mode}': too few spots to hold out {fraction:.0%} and still train")
    logger.info("holdout (%s): %d train, %d held out, %d buffer", split.mode, split.train.size,
                split.holdout.size, split.buffer.size)  # fmt: skip
    return split


def resolve_mode(mode: str, *, n_sections: int, min_sections: int = 3) -> str:
    """"sections" or "blocks": `mode`, or for "auto" sections when there are >= `min_sections`."""
    if mode not in MODES:
        raise InputError(f"holdout '{mode}' unknown; use one of {', '.join(MODES)}")
    if mode == "auto":
        return "sections" if n_sections >= min_sections else "blocks"
    return mode


def _pick_blocks(xy: np.ndarray, fraction: float, block_um: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the rows in randomly chosen square blocks covering >= fraction of them.

    Blocks shrink (halving) until the section has at least 1 / fraction + 1 of them, so a
    small section is not held out whole.
    """
    need = math.ceil(1 / fraction) + 1
    size = block_um
    while True:
        tiles = np.floor((xy - xy.min(0)) / size).astype(np.int64)
        keys, block = np.unique(tiles, axis=0, return_inverse=True)
        if len(keys) >= need or size < 1e-3 * block_um:
            break
        size /= 2
    counts = np.bincount(block.ravel(), minlength=len(keys))
    order = rng.permutation(len(keys))
    enough = np.searchsorted(np.cumsum(counts[order]), fraction * len(xy))
    chosen = order[: enough + 1]
    return np.isin(block.ravel(), chosen)


def _ring(held: np.ndarray, edge_index: np.ndarray | None) -> np.ndarray:
    """Rows not held out that share an edge with a held-out row."""
    ring = np.zeros_like(held)
    if edge_index is None:
        logger.warning("holdout 'blocks' without a spot graph: no buffer ring around held-out blocks")
        return ring
    src, dst = np.asarray(edge_index)
    ring[dst[held[src]]] = True
    ring[src[held[dst]]] = True
    return ring & ~held
