"""SIM-I, SIM-II, SIM-III: the OMIB paper's synthetic two-modality data (appendix F).

x1 = [a0; b0; a1; b1], x2 = [a0; b0; a2; b2], every block standard Gaussian;
a0 (d0) and b0 (d'0) are shared, a1/b1 only in x1, a2/b2 only in x2. The label is
y = 1[<delta, [a0; a1; a2]> > 0] with delta ~ N(0, I): the a-blocks are task-relevant,
the b-blocks superfluous. The sizes of b1 and b2 are lost in our copy of the paper; they
default to d11 and d21 (DESIGN.md section 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from tissue_mib.errors import InputError

#: (d11, d21) = sizes of a1 and a2 per data set.
SIM_SIZES: dict[str, tuple[int, int]] = {"I": (500, 100), "II": (100, 500), "III": (300, 300)}


@dataclass
class SimData:
    """One SIM data set split 9:1; every array is float32 with rows aligned.

    `x1`, `x2`: the two modalities (N, d); `authentic`: the true task-relevant blocks
    [a0; a1; a2] (N, d0 + d11 + d21); `y`: int64 (N,) in {0, 1}; `train`, `test`: row indices.
    `blocks[name]` = (modality, start, stop) column ranges of every block; `delta`: the
    separating direction (d0 + d11 + d21,) float64, y = 1[authentic @ delta > 0] (computed in float64).
    """

    x1: np.ndarray
    x2: np.ndarray
    authentic: np.ndarray
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    blocks: dict[str, tuple[str, int, int]]
    delta: np.ndarray
    params: dict

    def bayes_accuracy(self, blocks=("a0", "a1", "a2")) -> float:
        """The best expected accuracy of any classifier that sees the task-relevant `blocks`.

        y = 1[u + v > 0] with u = <delta_S, a_S> over the seen blocks S and v the unseen rest:
        given delta, independent centred Gaussians, so sign(u) is the best guess and is right
        with probability 1/2 + arcsin(|delta_S| / |delta|) / pi (1 with every block). The
        superfluous b-blocks carry nothing and do not enter."""
        sizes = {"a0": self.params["d0"], "a1": self.params["d11"], "a2": self.params["d21"]}
        unknown = sorted(set(blocks) - set(sizes))
        if unknown:
            raise InputError(f"bayes_accuracy: unknown task-relevant block(s) {unknown}; choose from {list(sizes)}")
        starts = dict(zip(sizes, np.cumsum([0, *sizes.values()])))
        seen = np.concatenate([self.delta[starts[b] : starts[b] + sizes[b]] for b in dict.fromkeys(blocks)])
        rho = min(1.0, float(np.linalg.norm(seen) / np.linalg.norm(self.delta)))
        return 0.5 + float(np.arcsin(rho)) / np.pi


def sim_layout(
    kind: str = "I",
    *,
    n: int = 10_000,
    d0: int = 200,
    d0_superfluous: int = 200,
    b1: int | None = None,
    b2: int | None = None,
    test_fraction: float = 0.1,
    scale: float = 1.0,
) -> dict:
    """Check the options of a SIM data set (InputError naming the field) and return them with
    the block sizes resolved: {"kind": "SIM-I", "n", "d0", "d0_superfluous", "d11", "d21",
    "b1", "b2", "test_fraction", "scale"}.

    `d0` = size of a0, `d0_superfluous` = size of b0, `b1`/`b2` = sizes of the superfluous
    private blocks (default: d11 and d21). `scale` multiplies every block size (rounded,
    at least 1; 1.0 = the paper; small values make quick tests).
    """
    key = str(kind).upper().removeprefix("SIM-")
    if key not in SIM_SIZES:
        raise InputError(f"unknown SIM data set {kind!r} (field kind); choose one of SIM-I, SIM-II, SIM-III")
    if n < 20:
        raise InputError(f"SIM needs at least 20 samples, got n={n} (field n)")
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction} (field test_fraction)")
    if not scale > 0:
        raise InputError(f"scale must be > 0, got {scale} (field scale)")
    d11, d21 = SIM_SIZES[key]
    b1 = d11 if b1 is None else int(b1)
    b2 = d21 if b2 is None else int(b2)
    if scale != 1.0:
        d0, d0_superfluous, d11, d21, b1, b2 = (max(1, round(scale * s)) for s in (d0, d0_superfluous, d11, d21, b1, b2))
    for name, size in (("d0", d0), ("d0_superfluous", d0_superfluous), ("b1", b1), ("b2", b2)):
        if size < 0:
            raise InputError(f"block size must be >= 0, got {name}={size} (field {name})")
    return {"kind": f"SIM-{key}", "n": n, "d0": d0, "d0_superfluous": d0_superfluous, "d11": d11, "d21": d21,
            "b1": b1, "b2": b2, "test_fraction": test_fraction, "scale": scale}


def make_sim(kind: str = "I", *, seed: int = 0, **options) -> SimData:
    """Generate SIM-`kind` (`"I"`, `"II"` or `"III"`), deterministic in `seed`; `options` are
    those of `sim_layout` (n, block sizes, test_fraction, scale). The split is stratified by y."""
    layout = sim_layout(kind, **options)
    n, d0, d0_superfluous, d11, d21, b1, b2 = (layout[k] for k in ("n", "d0", "d0_superfluous", "d11", "d21", "b1", "b2"))

    rng = np.random.default_rng(seed)
    a0, b0 = rng.standard_normal((n, d0)), rng.standard_normal((n, d0_superfluous))
    a1, bb1 = rng.standard_normal((n, d11)), rng.standard_normal((n, b1))
    a2, bb2 = rng.standard_normal((n, d21)), rng.standard_normal((n, b2))
    authentic = np.concatenate([a0, a1, a2], axis=1)
    delta = rng.standard_normal(authentic.shape[1])
    y = (authentic @ delta > 0).astype(np.int64)

    x1 = np.concatenate([a0, b0, a1, bb1], axis=1).astype(np.float32)
    x2 = np.concatenate([a0, b0, a2, bb2], axis=1).astype(np.float32)
    train, test = train_test_split(np.arange(n), test_size=layout["test_fraction"], stratify=y, random_state=seed)
    train, test = np.sort(train), np.sort(test)
    blocks = {
        "a0": ("x1", 0, d0),
        "b0": ("x1", d0, d0 + d0_superfluous),
        "a1": ("x1", d0 + d0_superfluous, d0 + d0_superfluous + d11),
        "b1": ("x1", d0 + d0_superfluous + d11, x1.shape[1]),
        "a2": ("x2", d0 + d0_superfluous, d0 + d0_superfluous + d21),
        "b2": ("x2", d0 + d0_superfluous + d21, x2.shape[1]),
    }
    params = {**layout, "seed": seed}
    return SimData(x1=x1, x2=x2, authentic=authentic.astype(np.float32), y=y, train=train,
                   test=test, blocks=blocks, delta=delta, params=params)

