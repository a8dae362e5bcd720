"""Flagged regions as QuPath GeoJSON."""

import json
import uuid

import pandas as pd
import pytest
from shapely.geometry import Point, shape

from tissue_mib.errors import InputError
from tissue_mib.export.geojson import regions_geojson, write_geojson


def test_one_polygon_per_region_containing_its_spots(section, tmp_path):
    path = write_geojson(section, tmp_path / "S1.flagged.geojson")
    data = json.loads(path.read_text())
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 2
    regions = section.obs["tissue_mib_region"]
    xy = section.obsm["spatial"]
    for feature in data["features"]:
        props = feature["properties"]
        assert feature["type"] == "Feature" and uuid.UUID(feature["id"])
        assert props["objectType"] == "annotation" and props["classification"]["name"] == "Anomalous"
        assert len(props["classification"]["color"]) == 3
        region = props["name"].rsplit(" ", 1)[-1]
        sel = (regions == region).to_numpy()
        geom = shape(feature["geometry"])
        assert geom.geom_type == "Polygon" and geom.is_valid
        assert all(geom.contains(Point(x, y)) for x, y in xy[sel])
        assert not any(geom.contains(Point(x, y)) for x, y in xy[~sel])
        assert props["n_spots"] == sel.sum() == props["measurements"]["n_spots"]
        assert props["mean_score"] == pytest.approx(section.obs["tissue_mib_score"][sel].mean())
        assert props["min_qvalue"] == pytest.approx(section.obs["tissue_mib_qvalue"][sel].min())
    assert [f["properties"]["n_spots"] for f in data["features"]] == [9, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["S1.flagged.geojson"]


def test_coordinates_are_full_resolution_pixels(section):
    feature = regions_geojson(section)["features"][1]  # the single spot
    centre = shape(feature["geometry"]).centroid
    spot = section.obsm["spatial"][(section.obs["tissue_mib_region"] == "2").to_numpy()][0]
    assert (centre.x, centre.y) == pytest.approx(tuple(spot), abs=1.0)


def test_no_flags_gives_empty_collection(section, tmp_path):
    section.obs["tissue_mib_label"] = pd.Categorical(["normal"] * section.n_obs, categories=["normal", "anomalous"])
    data = json.loads(write_geojson(section, tmp_path / "x.geojson").read_text())
    assert data == {"type": "FeatureCollection", "features": []}


def test_several_sections_need_a_library(make_section):
    import anndata as ad

    both = ad.concat([make_section("A"), make_section("B", seed=2)], uns_merge="unique", pairwise=True)
    with pytest.raises(InputError, match="several sections"):
        regions_geojson(both)
    features = regions_geojson(both, library_id="B")["features"]
    assert [f["properties"]["name"] for f in features] == ["SEC-B region B-1", "SEC-B region B-2"]


def test_unscored_section_raises(section):
    del section.obs["tissue_mib_qvalue"]
    with pytest.raises(InputError, match="tissue_mib_qvalue"):
        regions_geojson(section)
