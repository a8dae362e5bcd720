"""`bench her2st`'s genes part: leave one patient out, variants chosen by inner splits that never
see the reported section, weak labels as a second check (on small generated sections)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tissue_mib import tl
from tissue_mib.bench import her2st, her2st_cv
from tissue_mib.pp.benchmark import synthetic_section

LABELS = np.array(["invasive cancer", "connective tissue", "adipose tissue", "undetermined"])


def _section(name: str, seed: int, *, labelled: bool):
    a = synthetic_section(name, n_spots=64, n_genes=150, seed=seed)
    rng = np.random.default_rng(seed)
    a.obs["weak_is_cancer"] = rng.random(a.n_obs) < 0.3
    if labelled:
        a.obs["pathologist_label"] = pd.Categorical(rng.choice(LABELS, a.n_obs))
    return a


@pytest.fixture(scope="module")
def cohort():
    names = {"A1": True, "A2": False, "B1": True, "B2": False, "C1": True, "C2": False, "E1": False, "E2": False}
    read = {s: _section(s, i, labelled=lab) for i, (s, lab) in enumerate(names.items())}
    healthy = {s: her2st._healthy(a) for s, a in read.items()}
    return read, healthy


def test_leave_one_patient_out_with_inner_selection(cohort, monkeypatch):
    read, healthy = cohort
    trained_on = []
    real_fit = tl.fit

    def recording_fit(adatas, **kw):
        trained_on.append(({str(a.obs["library_id"].iloc[0])[0] for a in adatas}, kw["seed"]))
        return real_fit(adatas, **kw)

    monkeypatch.setattr(tl, "fit", recording_fit)
    records = her2st_cv.run_genes(read=read, healthy=healthy, labelled=["A1", "B1", "C1"], targets=["A1", "B1", "C1"],
                                  variants=["centre", "unscaled"], seeds=(0, 1), epochs=1, config=None, device="cpu")  # fmt: skip
    # every model is trained without its target's patient; inner models without both patients, each once
    patients = {"A", "B", "C", "E"}
    assert all(len(t) in (2, 3) for t, _ in trained_on)
    assert len(trained_on) == len({(frozenset(t), s, i) for i, (t, s) in enumerate(trained_on)})
    for r in records:
        if r["split"] == "inner":
            assert r["section"][0] != r["outer"][0] and r["seed"] == 0
        assert r["split"] in ("inner", "outer", "weak")
        assert np.isfinite(r["spearman_depth"]) and np.isfinite(r["spearman_genes"])
    assert {r["section"] for r in records if r["split"] == "weak"} == {"E1", "E2"}
    for target in ("A1", "B1", "C1"):
        inner = [r for r in records if r["split"] == "inner" and r["outer"] == target]
        weak = [r for r in records if r["split"] == "weak"]
        # the criterion: the mean of the inner (pathologist) and weak-label means; the target's labels never enter
        means = {v: np.mean([np.mean([r["auroc"] for r in rows if r["variant"] == v]) for rows in (inner, weak)])
                 for v in ("centre", "unscaled")}  # fmt: skip
        best = max(means, key=means.get)
        selected = [r for r in records if r["variant"] == "selected" and r["section"] == target]
        assert selected and all(r["selected_variant"] == best for r in selected)
        assert selected[0]["criterion"] == pytest.approx(means)
        # the selected variant is trained with every seed on the outer fold, the other with the first only
        outer = [r for r in records if r["split"] == "outer" and r["section"] == target and r["protocol"] == "paper"]
        assert sorted(r["seed"] for r in outer if r["variant"] == best) == [0, 1]
        assert [r["seed"] for r in outer if r["variant"] not in (best, "selected", "knn-pca")] == [0]
        assert [r for r in outer if r["variant"] == "knn-pca"]
    assert patients >= {p for t, _ in trained_on for p in t}

    table = her2st_cv.summary(records)
    row = next(r for r in table if r["section"] == "A1" and r["variant"] == "selected")
    assert row["n_seeds"] == 2 and row["auroc_min"] <= row["auroc_mean"] <= row["auroc_max"]
    assert row["knn_auroc"] is not None


def test_labels_dir_adds_to_the_data_folders_labels(tmp_path):
    (tmp_path / "E1_labeled_coordinates.tsv").write_text("x\ty\tlabel\n")
    assert her2st._labels_for("E1", tmp_path) == tmp_path
    assert her2st._labels_for("A1", tmp_path) is None  # not in the folder: the data folder's own labels
    assert her2st._labels_for("A1", None) is None


def test_a_labels_folder_for_one_section_only(shared_data, tmp_path):
    """--labels-dir holding B1 alone: B1 takes those labels, E1 (no file anywhere) is read, scored and not
    evaluated, D1 keeps the data folder's labels; nothing stops at a section without a file."""
    import pandas as pd

    data = shared_data / "her2st"
    src = pd.read_csv(data / "pathologist_labels" / "B1_labeled_coordinates.tsv", sep="\t")
    src.assign(label="breast glands").to_csv(tmp_path / "B1_labeled_coordinates.tsv", sep="\t", index=False)
    read = her2st.read_sections(data, ["B1", "D1", "E1"], tmp_path)
    assert set(read["B1"].obs["pathologist_label"].dropna()) == {"breast glands"}
    assert her2st.labelled_sections(read) == ["B1", "D1"]
