"""`bench emotion|sentiment|cxr`: the secondary workflows as thin recipes over the shared core.

A recipe names the method (the fusion), an encoder per modality, the task head and the
metrics; data come from `tissue_mib.datasets.workflows` readers (or their synthetic
stand-ins); training and prediction are `tissue_mib.train.fit` / `predict`.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from tissue_mib.bench.metrics import accuracy, multilabel_auroc, sentiment_metrics
from tissue_mib.bench.report import markdown_table, save_figure, write_json, write_text
from tissue_mib.bench.run import Cell, encoder_spec, fit_predict
from tissue_mib.datasets.workflows import READERS, SYNTHETIC, WorkflowData
from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)


@dataclass
class Recipe:
    """One workflow: method (fusion), encoders by modality (None: chosen from the array shape),
    method options, training options. Loaded from YAML with `Recipe.from_dict`."""

    method: str = "omib"
    encoders: dict[str, dict] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    train: Cell = field(default_factory=Cell)
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict, *, base: Recipe, source: str) -> Recipe:
        """`base` with the keys of `d` replaced (`train` and `encoders` merged key by key)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"{source}: unknown key(s) {unknown}; known: {sorted(known)}")
        out = copy.deepcopy(base)
        for key, value in d.items():
            if key == "train":
                cell_keys = {f.name for f in fields(Cell)}
                if not isinstance(value, dict) or set(value) - cell_keys:
                    raise InputError(f"{source}: 'train' must map some of {sorted(cell_keys)}, got {value!r}")
                out.train = Cell(**{**asdict(out.train), **value})
            elif key == "encoders":
                if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                    raise InputError(f"{source}: 'encoders' must map modality names to encoder specs")
                out.encoders = {**out.encoders, **value}
            elif key == "params":
                if not isinstance(value, dict):
                    raise InputError(f"{source}: 'params' must be a mapping of method options")
                out.params = {**out.params, **value}
            else:
                setattr(out, key, value)
        return out


#: The default recipes (the papers' choices, at a size this CPU can train in minutes).
RECIPES: dict[str, Recipe] = {
    "emotion": Recipe(method="omib", train=Cell(epochs=30, lr=1e-3, batch_size=64)),
    "sentiment": Recipe(method="omib", encoders={"text": {"encoder": "seq-transformer"}},
                        train=Cell(epochs=30, lr=1e-3, batch_size=32)),
    "cxr": Recipe(method="omib", train=Cell(epochs=30, lr=1e-3, batch_size=64)),
}
TASKS = {"emotion": "multiclass", "sentiment": "regression", "cxr": "multilabel"}


def _prepare(x: np.ndarray, spec: dict) -> tuple[np.ndarray, dict]:
    """Array and full encoder spec; a (N, T, F) log-mel for `resnet18` becomes (N, 1, T, F), standardised."""
    if spec["encoder"] == "resnet18" and x.ndim == 2:
        raise InputError(f"encoder 'resnet18' needs images (N, H, W, 3) or log-mel (N, T, F), got feature vectors {x.shape}; use 'mlp'")
    if spec["encoder"] == "resnet18" and x.ndim == 3:
        x = ((x - x.mean()) / (x.std() + 1e-8))[:, None].astype(np.float32)
        spec = {"in_channels": 1, **spec}
    return x, spec


def _specs(data: WorkflowData, recipe: Recipe) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    arrays, specs = {}, {}
    unknown = sorted(set(recipe.encoders) - set(data.modalities))
    if unknown:
        raise InputError(f"recipe 'encoders' names modalities {unknown} that {data.source} does not have ({sorted(data.modalities)})")
    for name, x in data.modalities.items():
        spec = dict(recipe.encoders.get(name, {}))
        if "encoder" not in spec:
            spec = {**encoder_spec(x), **spec}
        elif spec["encoder"] in ("mlp",) and "in_dim" not in spec:
            spec["in_dim"] = int(np.prod(x.shape[1:]))
        elif spec["encoder"] in ("conv1d", "seq-transformer") and "in_dim" not in spec:
            if x.ndim != 3:
                raise InputError(f"{data.source}: encoder {spec['encoder']!r} of modality '{name}' needs (N, T, F) sequences, got {x.shape}")
            spec["in_dim"] = int(x.shape[2])
        arrays[name], specs[name] = _prepare(x, spec)
    return arrays, specs


def _task(data: WorkflowData) -> dict:
    if data.task == "multiclass":
        return {"kind": "multiclass", "n_classes": len(data.label_names)}
    if data.task == "multilabel":
        return {"kind": "multilabel", "n_labels": len(data.label_names)}
    return {"kind": "regression"}


def evaluate(data: WorkflowData, y: np.ndarray, pred: dict[str, np.ndarray]) -> dict[str, float]:
    """The workflow's metrics on one split: accuracy; MAE/Corr/Acc-2/F1/Acc-7; per-finding AUROC + mAUC."""
    if data.task == "multiclass":
        return {"accuracy": accuracy(y, pred["probs"])}
    if data.task == "multilabel":
        return multilabel_auroc(y, pred["probs"], data.label_names)
    return sentiment_metrics(y, np.clip(pred["pred"], -3.0, 3.0))


def run_workflow(name: str, *, data: str | Path | None = None, synthetic_dir: str | Path | None = None,
                 recipe: Recipe | None = None, out: str | Path | None = None) -> dict:
    """Train the recipe on the `train` rows of `data` (or of a synthetic stand-in written to
    `synthetic_dir`), evaluate on `test`; write `<name>_results.json`, `<name>_table.md` and a PNG to `out`."""
    if name not in READERS:
        raise InputError(f"unknown workflow {name!r}; choose from {sorted(READERS)}")
    if (data is None) == (synthetic_dir is None):
        raise InputError(f"bench {name}: give exactly one of --data PATH or --synthetic")
    if data is None:
        suffix = {"sentiment": ".pkl"}.get(name, ".npz")
        data = SYNTHETIC[name](Path(synthetic_dir) / f"synthetic_{name}{suffix}")
    recipe = recipe or RECIPES[name]
    start = time.perf_counter()
    wd = READERS[name](data)
    from tissue_mib.train import MultiModalData

    arrays, specs = _specs(wd, recipe)
    train, test = wd.rows("train"), wd.rows("test")
    y = wd.y
    pred, model, seconds = fit_predict(
        recipe.method, modalities=specs, task=_task(wd),
        train=MultiModalData(modalities={k: v[train] for k, v in arrays.items()}, y=y[train]),
        test=MultiModalData(modalities={k: v[test] for k, v in arrays.items()}, y=y[test]),
        cell=recipe.train, seed=recipe.seed, params=recipe.params)  # fmt: skip
    metrics = evaluate(wd, y[test], pred)
    result = {"benchmark": name, "data": str(data), "synthetic": synthetic_dir is not None, "task": wd.task,
              "recipe": asdict(recipe), "encoders": specs, "n_train": int(train.size), "n_test": int(test.size),
              "metrics": metrics, "seconds": round(time.perf_counter() - start, 1)}
    if out is not None:
        write_outputs(result, Path(out), label_names=wd.label_names)
    return result


def write_outputs(result: dict, out: Path, *, label_names: list[str]) -> None:
    """JSON, a one-row markdown table of the metrics and a bar chart PNG."""
    import matplotlib.pyplot as plt

    name = result["benchmark"]
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{name}_results.json", result)
    metrics = result["metrics"]
    write_text(out / f"{name}_table.md", markdown_table([{"method": result["recipe"]["method"], **metrics}], ["method", *metrics]))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(metrics) + 1), 3.2))
    keys = [k for k in metrics if k != "MAE"]
    ax.bar(keys, [metrics[k] for k in keys])
    ax.set_ylim(0, 1)
    ax.set_title(f"bench {name}: {result['recipe']['method']} ({'synthetic stand-in' if result['synthetic'] else result['data']})", fontsize=9)
    ax.tick_params(axis="x", rotation=30)
    save_figure(fig, out / f"bench_{name}.png")
