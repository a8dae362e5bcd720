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


def _check_qupath_feature(feature: dict) -> None:
    """What QuPath's GeoJSON import reads: a Feature with a Polygon/MultiPolygon geometry of closed
    rings of [x, y] numbers, `properties` with objectType, a classification {name, color [r, g, b]},
    a name, and `measurements` as a flat map of names to numbers."""
    assert set(feature) >= {"type", "geometry", "properties"} and feature["type"] == "Feature"
    geometry = feature["geometry"]
    assert geometry["type"] in ("Polygon", "MultiPolygon")
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    for polygon in polygons:
        for ring in polygon:
            assert len(ring) >= 4 and ring[0] == ring[-1]
            assert all(len(pt) == 2 and all(isinstance(v, (int, float)) for v in pt) for pt in ring)
    props = feature["properties"]
    assert props["objectType"] in ("annotation", "detection") and isinstance(props["name"], str)
    assert isinstance(props["classification"]["name"], str)
    assert all(isinstance(v, int) and 0 <= v <= 255 for v in props["classification"]["color"])
    assert all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in props["measurements"].items())


def test_regions_carry_size_area_score_and_top_genes_in_the_qupath_schema(section, tmp_path):
    from tissue_mib.tl.regions import gene_reference, rank_deviating_genes
    from tissue_mib.tl.tensors import microns_per_pixel

    rank_deviating_genes(section, gene_reference(section[(section.obs["anomaly_kind"] == "normal").to_numpy()]))
    data = json.loads(write_geojson(section, tmp_path / "S1.flagged.geojson").read_text())
    assert data["type"] == "FeatureCollection"
    mpp = microns_per_pixel(section, "S1")
    for feature in data["features"]:
        _check_qupath_feature(feature)
        props = feature["properties"]
        assert props["area_um2"] == pytest.approx(shape(feature["geometry"]).area * mpp**2)
        assert props["measurements"]["area_um2"] == props["area_um2"] > 0
    block = data["features"][0]["properties"]
    # a 3 x 3 block at 100 px pitch: about 9 spots' worth of area (plus the outline's margin)
    assert 9 * (100 * mpp) ** 2 * 0.7 < block["area_um2"] < 9 * (100 * mpp) ** 2 * 2.0
    assert block["top_genes"].startswith("g3 +") and len(block["top_genes"].split("; ")) == 5
    assert "g7 -" in block["top_genes"]


def test_minimum_region_size_drops_small_regions_from_the_geojson(section):
    from tissue_mib.tl.regions import flagged_regions

    flagged_regions(section, min_spots=2)
    features = regions_geojson(section)["features"]
    assert [f["properties"]["n_spots"] for f in features] == [9]
