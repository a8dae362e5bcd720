"""`tl.fit`: healthy sections (AnnData) -> a trained `TissueModel`."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib import pp
from tissue_mib.checks import check_float, check_int, check_seed
from tissue_mib.errors import InputError
from tissue_mib.lock import model_lock
from tissue_mib.logs import step
from tissue_mib.methods import METHODS, build_method
from tissue_mib.tl.crossfit import CrossFitModel
from tissue_mib.tl.model import (
    DEFAULT_KNN_FRACTION, KNN_K, SCORE_RULES, TissueModel, knn_neighbours, reference_rows, rule_scores,
)
from tissue_mib.pp._util import library_ids
from tissue_mib.pp.prepare import split_sections
from tissue_mib.tl.tensors import coords_um, graph_edges, libraries_without_image, section_codes, to_data, uses_graph
from tissue_mib.train import Holdout, ModelDir, TrainConfig, distributed, fit as train_fit, predict, split_holdout
from tissue_mib.train.holdout import resolve_mode
from tissue_mib.utils import seed_everything

logger = logging.getLogger(__name__)

DEFAULT_ENCODERS = {"genes": {"encoder": "gcn"}, "histology": {"encoder": "resnet18", "stem": "cifar"}}
DEFAULT_SCORE = "knn"  # docs/her2st.md: the centre distance inverted on unseen patients' sections
PRESET_KEYS = ("method", "modalities", "params", "train", "prep", "holdout", "score", "knn_fraction")
HOLDOUT_KEYS = ("fraction", "block_um", "min_sections", "folds")


def fit(
    adatas: AnnData | list[AnnData],
    *,
    method: str = "omib",
    config: Mapping | TrainConfig | None = None,
    modalities: tuple[str, ...] = ("genes", "histology"),
    epochs: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    seed: int = 0,
    holdout: str = "auto",
    prep: pp.PrepConfig | Mapping | None = None,
    out: str | Path | None = None,
    score: str | None = None,
    knn_fraction: float | None = None,
    folds: int | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    **method_params,
) -> TissueModel | CrossFitModel:
    """Train `method` under Deep SVDD on healthy sections; return the `TissueModel`.

    adatas: healthy sections (`io.read` output; one AnnData or a list). config: a preset
    (YAML mapping with optional sections `modalities` (encoder spec per modality), `params`
    (method options), `train` (TrainConfig fields), `prep` (PrepConfig fields), `holdout`
    (`fraction`, `block_um`)) or a TrainConfig. modalities: ("genes",) for a genes-only
    model; sections without images also give one. epochs: epochs of the last (main) phase;
    earlier phases keep the preset's count, else max(1, epochs // 4). holdout: "auto",
    "sections" or "blocks" (DESIGN.md section 5); held-out sections serve early stopping and
    calibration and are prepared apart with the training sections' gene panel (and ComBat
    reference), exactly as `tl.score` prepares a new section, so their scores are
    exchangeable with a new healthy section's. prep: preprocessing options. out: write
    the model directory there, holding its lock (`tissue_mib.lock`) from start to end.
    score: `knn` (mean distance to the nearest training spots in the model's latent space)
    or `centre` (the method's SVDD score); None: the preset's `score` key, else DEFAULT_SCORE.
    knn_fraction: the share of the training spots the `knn` rule averages over (at least 10;
    `knn_neighbours`), large enough that a cluster of contaminating spots in an impure
    reference does not make the same anomaly look typical; 0: the 10 nearest; None: the
    preset's `knn_fraction`, else `DEFAULT_KNN_FRACTION` (0.1). folds: K >= 2 cross-fits
    (`CrossFitModel`): the sections are split into K groups and K models are trained, each
    holding out one group for calibration, so every training section calibrates
    (cross-conformal calls, K times the training); None: the preset's `holdout.folds`, else 1.
    checkpoint_dir: write a training checkpoint there after every epoch (`fold-k/` per member
    when cross-fitting); resume: continue from it (bit for
    bit on CPU in fp32, docs/engine.md). method_params: method options (win over the preset's).
    Under torchrun every rank runs this and trains its share of each batch (docs/distributed.md);
    rank 0 alone holds the lock and writes `out`, and every rank returns the same model.
    """
    if resume and checkpoint_dir is None:
        raise InputError("tl.fit: resume=True needs checkpoint_dir")
    with model_lock(out) if out is not None and distributed.is_main() else contextlib.nullcontext():
        return _fit(adatas, method=method, config=config, modalities=modalities, epochs=epochs, device=device,
                    precision=precision, seed=seed, holdout=holdout, prep=prep, out=out, score=score,
                    knn_fraction=knn_fraction, folds=folds, checkpoint_dir=checkpoint_dir, resume=resume, method_params=method_params)  # fmt: skip


def _fit(adatas, *, method, config, modalities, epochs, device, precision, seed, holdout, prep, out, score, knn_fraction,
         folds, checkpoint_dir, resume, method_params) -> TissueModel | CrossFitModel:
    preset = _preset(config)
    unknown = sorted(set(modalities) - set(DEFAULT_ENCODERS))
    if unknown or not modalities:
        raise InputError(f"modalities {list(modalities)}: tissue models read {', '.join(DEFAULT_ENCODERS)} ({unknown} unknown)")
    holdout_options = _holdout_options(preset.get("holdout"))
    if epochs is not None:
        epochs = check_int(epochs, name="epochs", lo=1)
    seed = check_seed(seed, name="seed")
    knn_fraction = check_float(preset.get("knn_fraction", DEFAULT_KNN_FRACTION) if knn_fraction is None else knn_fraction,
                               name="knn_fraction", lo=0.0, hi=0.5)  # fmt: skip
    TrainConfig.from_dict(dict(preset.get("train") or {}))  # bad train keys fail here, before preprocessing
    METHODS.get(method)  # an unknown name fails here, before preprocessing
    if out is not None:
        ModelDir.check_target(out)
    seed_everything(seed)
    prep_config = _prep_config(prep, preset.get("prep"))
    sections = split_sections(adatas)
    folds = check_int(folds if folds is not None else holdout_options.pop("folds", 1), name="folds", lo=1)
    holdout_options.pop("folds", None)
    settings = {"method": method, "preset": preset, "modalities": modalities, "epochs": epochs, "device": device,
                "precision": precision, "seed": seed, "prep_config": prep_config, "score": score, "knn_fraction": knn_fraction,
                "holdout_options": holdout_options, "method_params": method_params, "resume": resume}  # fmt: skip
    if folds > 1:
        members = []
        for k, group in enumerate(_fold_groups(sections, folds, seed=seed), start=1):
            logger.info("cross-fit: fold %d of %d holds out %s", k, folds, ", ".join(group))
            split = _forced_split(sections, group, seed=seed, options=holdout_options)
            fold_checkpoints = None if checkpoint_dir is None else Path(checkpoint_dir) / f"fold-{k}"
            members.append(_fit_one(sections, split, checkpoint_dir=fold_checkpoints, **settings))
        tissue_model = CrossFitModel(members)
    else:
        split = _held_out_sections(sections, mode=holdout, seed=seed, options=holdout_options)
        tissue_model = _fit_one(sections, split, checkpoint_dir=checkpoint_dir, **settings)
    if out is not None and distributed.is_main():
        tissue_model.save(out)
    distributed.barrier()  # the model directory is complete before any rank goes on
    return tissue_model


def _fit_one(sections, split, *, method, preset, modalities, epochs, device, precision, seed, prep_config, score,
             knn_fraction, holdout_options, method_params, checkpoint_dir, resume) -> TissueModel:
    """One model: train on `sections` minus the held-out ones of `split` ((held library ids, Holdout) or
    ([], None) for spatial blocks); calibrate on what is held out."""
    held, section_split = split
    method_class = METHODS.get(method)
    with step(f"prepare {len(sections) - len(held)} training sections") as line:
        with distributed.main_first():  # rank 0 fills the preprocessing cache, the others read it
            prepared, panel = pp.prepare([s for s in sections if library_ids(s)[0] not in held], config=prep_config)
        line.detail = f"{prepared.n_obs:,} spots, {len(panel):,} genes"
    prep_config = pp.PrepConfig.from_dict(prepared.uns["tissue_mib_prep"]["config"])
    held_prepared = None
    if held:  # prepared apart, with the training cohort's panel: exactly as tl.score prepares a new section
        with distributed.main_first():
            held_prepared, _ = pp.prepare([s for s in sections if library_ids(s)[0] in held], panel=panel, config=prep_config)
    modalities = _modalities(prepared, tuple(modalities), method)
    specs = _encoder_specs(preset.get("modalities") or {}, modalities, n_genes=panel.n_inputs if prep_config.scale else len(panel))
    params = {**dict(preset.get("params") or {}), **method_params}
    if "seed" in inspect.signature(method_class).parameters:
        params.setdefault("seed", seed)
    seed_everything(seed)
    model = build_method(method, modalities=specs, task={"kind": "svdd"}, **params)
    modalities = tuple(m for m in modalities if m in model.used_modalities)
    graph = uses_graph(model, modalities)
    data = to_data(prepared, modalities, graph=graph)
    train_config = _train_config(preset.get("train"), model.phases, epochs=epochs, device=device,
                                 precision=precision, seed=seed)  # fmt: skip
    if checkpoint_dir is not None:
        train_config = replace(train_config, checkpoint_dir=str(checkpoint_dir), resume=resume)
    score = score or preset.get("score") or DEFAULT_SCORE
    if score not in SCORE_RULES:
        raise InputError(f"score {score!r} unknown; use one of {', '.join(SCORE_RULES)}")
    with step(f"train {method}") as line:
        if held:
            val_data = to_data(held_prepared, modalities, graph=graph)
            history = train_fit(model, data, val_data=val_data, config=train_config)
            reference = _reference(model, data, score, train_config, seed)
            knn_k = knn_neighbours(len(reference), knn_fraction) if reference is not None else 0
            calibration = rule_scores(predict(model, val_data, config=train_config), score, reference, knn_k)
            calibration_edges = graph_edges(held_prepared)
            record = section_split.to_dict() | {
                "n_train": int(prepared.n_obs), "n_holdout": int(held_prepared.n_obs), "holdout_rows": [],
                "holdout_sections": held, "holdout_obs_names": held_prepared.obs_names.tolist(),
            }  # fmt: skip
        else:
            split = split_holdout(section_codes(prepared), coords_um=coords_um(prepared), edge_index=graph_edges(prepared),
                                  mode="blocks", seed=seed, **holdout_options)  # fmt: skip
            history = train_fit(model, data.subset(split.train), val_data=data.subset(split.holdout), config=train_config)
            reference = _reference(model, data.subset(split.train), score, train_config, seed)
            knn_k = knn_neighbours(len(reference), knn_fraction) if reference is not None else 0
            calibration = rule_scores(predict(model, data, config=train_config, rows=split.holdout), score, reference, knn_k)
            calibration_edges = _subgraph_edges(prepared, split.holdout)
            record = split.to_dict() | {"holdout_sections": [], "holdout_obs_names": prepared.obs_names[split.holdout].tolist()}
        line.detail = f"{len(history.records)} epochs, {calibration.size:,} held-out spots to calibrate on"
    record["sections"] = sorted(library_ids(s)[0] for s in sections)
    calibration = calibration.astype(np.float64)
    train_config = replace(train_config, checkpoint_dir=None, resume=False)  # where it ran, not what it is
    tissue_model = TissueModel(
        method=model, panel=panel, prep=prep_config, train_config=train_config, history=history,
        calibration=calibration, holdout=record, modalities=modalities, score_rule=score, reference_latent=reference,
        knn_k=knn_k or KNN_K, calibration_edges=calibration_edges,
    )  # fmt: skip
    return tissue_model


def _fold_groups(sections: list[AnnData], folds: int, *, seed: int) -> list[list[str]]:
    """The library ids split into `folds` groups of (nearly) equal size, in a seeded random order."""
    libs = sorted(library_ids(s)[0] for s in sections)
    if not 2 <= folds <= len(libs) // 2:
        raise InputError(f"folds = {folds}: cross-fitting {len(libs)} section(s) needs 2 <= folds <= {len(libs) // 2} "
                         "(each model trains on at least half of them)")  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(libs))
    return [sorted(libs[i] for i in part) for part in np.array_split(order, folds)]


def _forced_split(sections: list[AnnData], held: list[str], *, seed: int, options: dict) -> tuple[list[str], Holdout]:
    """The split record of holding out the sections `held` (cross-fitting)."""
    libs = sorted(library_ids(s)[0] for s in sections)
    groups = [libs.index(h) for h in held]
    mask = np.isin(np.arange(len(libs)), groups)
    return held, Holdout("sections", np.flatnonzero(~mask), np.flatnonzero(mask), np.zeros(0, np.int64), groups,
                         options.get("fraction", len(held) / len(libs)), options.get("block_um", 1000.0), seed)  # fmt: skip


def _subgraph_edges(prepared, rows: np.ndarray) -> np.ndarray:
    """(2, E) edges of the spot graph among `rows` of `prepared`, renumbered 0..len(rows)-1."""
    graph = sp.csr_matrix(prepared.obsp["spatial_connectivities"])[rows][:, rows].tocoo()
    return np.stack([graph.row, graph.col]).astype(np.int64)


def _reference(model, data, score: str, config, seed: int) -> np.ndarray | None:
    """The training latents the `knn` rule measures against (None for `centre`)."""
    if score != "knn":
        return None
    return reference_rows(predict(model, data, config=config)["latent"], seed=seed)


def _held_out_sections(sections: list[AnnData], *, mode: str, seed: int, options: dict) -> tuple[list[str], Holdout | None]:
    """The library ids held out whole and their split record; ([], None) when spatial blocks are held out instead."""
    libs = sorted(library_ids(s)[0] for s in sections)
    if resolve_mode(mode, n_sections=len(libs), min_sections=options.get("min_sections", 3)) != "sections":
        return [], None
    split = split_holdout(np.arange(len(libs)), mode="sections", seed=seed, **options)
    return [libs[g] for g in split.groups], split


def _preset(config: Mapping | TrainConfig | None) -> dict:
    if config is None:
        return {}
    if isinstance(config, TrainConfig):
        return {"train": config.to_dict()}
    if not isinstance(config, Mapping):
        raise InputError(f"config must be a mapping (a YAML preset) or a TrainConfig, got {type(config).__name__}")
    unknown = sorted(set(config) - set(PRESET_KEYS))
    if unknown:
        raise InputError(f"config: unknown section(s) {unknown}; known: {', '.join(PRESET_KEYS)}")
    return dict(config)


def _prep_config(prep: pp.PrepConfig | Mapping | None, preset: Mapping | None) -> pp.PrepConfig:
    if isinstance(prep, pp.PrepConfig):
        return prep
    return pp.PrepConfig.from_dict({**dict(preset or {}), **dict(prep or {})})


def _encoder_specs(overrides: Mapping, modalities: tuple[str, ...], *, n_genes: int) -> dict[str, dict]:
    """Default encoder per modality updated by the preset's; another encoder name replaces the default."""
    specs = {}
    for m in modalities:
        spec = dict(overrides.get(m) or {})
        base = DEFAULT_ENCODERS[m]
        specs[m] = {**base, **spec} if spec.get("encoder", base["encoder"]) == base["encoder"] else spec
    specs["genes"]["in_dim"] = n_genes
    return specs


def _modalities(prepared: AnnData, modalities: tuple[str, ...], method: str) -> tuple[str, ...]:
    """The requested modalities, without histology when no section has an image."""
    libs = prepared.obs["library_id"].astype(str).unique()
    if "histology" in modalities and len(libraries_without_image(prepared)) == len(libs):
        logger.warning("no training section has an image: training %s on genes only", method)
        return tuple(m for m in modalities if m != "histology")
    return modalities


def _holdout_options(options: Mapping | None) -> dict:
    unknown = sorted(set(options or {}) - set(HOLDOUT_KEYS))
    if unknown:
        raise InputError(f"config holdout: unknown field(s) {unknown}; known: {', '.join(HOLDOUT_KEYS)}")
    checks = {
        "fraction": lambda v: check_float(v, name="config holdout fraction", lo=0.0, hi=1.0, lo_open=True, hi_open=True),
        "block_um": lambda v: check_float(v, name="config holdout block_um", lo=0.0, lo_open=True),
        "min_sections": lambda v: check_int(v, name="config holdout min_sections", lo=2),
    }
    return {k: checks[k](v) for k, v in dict(options or {}).items()}


def _train_config(preset: Mapping | None, phases: tuple[str, ...], *, epochs, device, precision, seed) -> TrainConfig:
    base = TrainConfig.from_dict(dict(preset or {}))
    config = replace(base, device=device, precision=precision, seed=seed)
    if epochs is None:
        return config
    per_phase = base.epochs if isinstance(base.epochs, Mapping) else {}
    chosen = {p: int(per_phase.get(p, max(1, epochs // 4))) for p in phases[:-1]}
    chosen[phases[-1]] = int(epochs)
    return replace(config, epochs=chosen)

