"""Anomaly maps, shared colour scale, ROC curves and attribution plots."""

from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import EllipseCollection
from PIL import Image

from tissue_mib.errors import InputError
from tissue_mib.pl import anomaly_map, anomaly_maps, attribution, roc_curves, shared_scale


def _scales(a, lib="S1"):
    sf = a.uns["spatial"][lib]["scalefactors"]
    return sf["tissue_hires_scalef"], sf["spot_diameter_fullres"]


def _collections(ax):
    return [c for c in ax.collections if isinstance(c, EllipseCollection)]


def test_anomaly_map_draws_spots_at_true_size_with_flags(section, tmp_path):
    HIRES, SPOT = _scales(section)
    section.uns["tissue_mib"] = {"fdr": 0.05}
    out = tmp_path / "map.png"
    ax = anomaly_map(section, vmin=0.0, vmax=30.0, out=out)
    spots, rings = _collections(ax)
    np.testing.assert_allclose(spots.get_array(), section.obs["tissue_mib_score"].to_numpy())
    np.testing.assert_allclose(spots.get_offsets(), section.obsm["spatial"] * HIRES)
    np.testing.assert_allclose(spots._widths * 2, SPOT * HIRES)  # matplotlib stores half-widths
    assert spots.norm.vmin == 0.0 and spots.norm.vmax == 30.0
    flagged = (section.obs["tissue_mib_label"] == "anomalous").to_numpy()
    np.testing.assert_allclose(rings.get_offsets(), section.obsm["spatial"][flagged] * HIRES)
    assert "SEC-S1" in ax.get_title() and "10 of 108 spots flagged at q ≤ 0.05 (ringed)" in ax.get_title()
    fig = ax.figure
    assert len(fig.axes) == 3  # bare H&E, map, colour bar
    assert fig.axes[0].images and fig.axes[0].images[0].get_array().shape == section.uns["spatial"]["S1"]["images"]["hires"].shape
    with Image.open(out) as png:
        assert png.size[0] > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]  # no temporary left


def test_best_nonblank_image_and_no_image(tmp_path, make_section):
    a = make_section()
    HIRES, _ = _scales(a)
    entry = a.uns["spatial"]["S1"]
    entry["images"]["lowres"] = entry["images"]["hires"][::4, ::4].copy()
    entry["scalefactors"]["tissue_lowres_scalef"] = HIRES / 4
    entry["images"]["hires"] = np.zeros_like(entry["images"]["hires"])  # blank
    ax = anomaly_map(a)
    np.testing.assert_allclose(_collections(ax)[0].get_offsets(), a.obsm["spatial"] * HIRES / 4)
    plt.close(ax.figure)
    b = make_section(image=False)
    ax = anomaly_map(b, out=tmp_path / "noimg.png")
    assert not ax.images and (tmp_path / "noimg.png").is_file()
    np.testing.assert_allclose(_collections(ax)[0].get_offsets(), b.obsm["spatial"])


def test_unscored_spots_are_grey(section):
    section.obs.loc[section.obs_names[:4], "tissue_mib_score"] = np.nan
    spots = _collections(anomaly_map(section, vmin=0.0, vmax=30.0))[0]
    colours = spots.to_rgba(spots.get_array())
    np.testing.assert_allclose(colours[:4, :3], [[0x9E / 255] * 3] * 4, atol=1e-6)
    assert not np.allclose(colours[4:, :3], 0x9E / 255)


def test_shared_scale_pools_sections(make_section):
    a, b = make_section("A", seed=1), make_section("B", seed=2)
    b.obs["tissue_mib_score"] *= 3
    vmin, vmax = shared_scale([a, b])
    pooled = np.concatenate([a.obs["tissue_mib_score"], b.obs["tissue_mib_score"]])
    assert (vmin, vmax) == pytest.approx(tuple(np.percentile(pooled, [1, 99])))
    assert vmax > shared_scale(a)[1]


def test_anomaly_maps_one_png_per_section_same_scale(tmp_path, monkeypatch, make_section):
    a, b = make_section("A", seed=1, image=False), make_section("B", seed=2, image=False)
    both = ad.concat([a, b], uns_merge="unique")
    seen = []
    import tissue_mib.pl.maps as maps

    real = maps.anomaly_map
    monkeypatch.setattr(maps, "anomaly_map", lambda *args, **kw: seen.append((kw["vmin"], kw["vmax"])) or real(*args, **kw))
    paths = anomaly_maps([both], tmp_path)
    assert sorted(p.name for p in paths) == ["SEC-A.map.png", "SEC-B.map.png"]
    assert all(p.is_file() for p in paths) and len(set(seen)) == 1
    with pytest.raises(InputError, match="several sections"):
        anomaly_map(both)


def test_failed_save_leaves_no_file(section, tmp_path, monkeypatch):
    def broken(self, fname, **kw):
        Path(fname).write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(plt.Figure, "savefig", broken)
    with pytest.raises(RuntimeError):
        anomaly_map(section, out=tmp_path / "map.png")
    assert list(tmp_path.iterdir()) == []


def test_missing_score_raises(section):
    del section.obs["tissue_mib_score"]
    with pytest.raises(InputError, match="tissue_mib_score"):
        anomaly_map(section)


def test_roc_curves(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.uniform(size=200) < 0.3
    good, bad = y + rng.normal(0, 0.5, 200), rng.normal(size=200)
    ax = roc_curves({"good": {"y": y, "score": good}, "random": (y, bad)}, out=tmp_path / "roc.png")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    from sklearn.metrics import roc_auc_score

    assert labels[0] == f"good (AUROC {roc_auc_score(y, good):.3f})" and labels[1].startswith("random")
    assert (tmp_path / "roc.png").is_file()
    with pytest.raises(InputError):
        roc_curves({})


def test_attribution(section, tmp_path):
    ax = attribution(section, out=tmp_path / "attr.png")
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"normal", "genes"}
    # axes relative to the section median; the gene-driven spots lie below the diagonal
    genes_pts = ax.collections[1].get_offsets()
    med = section.obs[["tissue_mib_score_genes", "tissue_mib_score_histology"]].median().to_numpy()
    sel = (section.obs["anomaly_kind"] == "genes").to_numpy()
    np.testing.assert_allclose(genes_pts[:, 0], section.obs["tissue_mib_score_genes"][sel] / med[0])
    assert np.all(genes_pts[:, 0] > genes_pts[:, 1])
    normal_pts = ax.collections[0].get_offsets()
    assert np.median(normal_pts[:, 0]) == pytest.approx(np.median(normal_pts[:, 1]), rel=0.5)
    section.obs["tissue_mib_score_histology"] = np.nan  # a genes-only model
    with pytest.raises(InputError, match="no positive scores"):
        attribution(section)
    del section.obs["tissue_mib_score_histology"]
    with pytest.raises(InputError, match="tissue_mib_score_histology"):
        attribution(section)
