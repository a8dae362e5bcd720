"""The section catalogue: ranges, lists, globs, user files, env overrides and its errors."""

from __future__ import annotations

import shutil

import pytest

from tissue_mib import io
from tissue_mib.errors import InputError
from tissue_mib.io.catalogue import expand, her2st_dir, resolve, synthetic_dir


@pytest.fixture(autouse=True)
def _no_user_env(monkeypatch):
    for var in ("TISSUE_MIB_CATALOGUE", "TISSUE_MIB_HER2ST", "TISSUE_MIB_SYNTHETIC_DIR"):
        monkeypatch.delenv(var, raising=False)


def test_expand_ranges():
    assert expand("NB-A..H") == [f"NB-{c}" for c in "ABCDEFGH"]
    assert expand("SYN-BC-A..D") == ["SYN-BC-A", "SYN-BC-B", "SYN-BC-C", "SYN-BC-D"]
    assert expand("NB-A..NB-C") == ["NB-A", "NB-B", "NB-C"]
    assert expand("S8..11") == ["S8", "S9", "S10", "S11"]
    assert expand("S01..03") == ["S01", "S02", "S03"]
    assert expand("BC-A") == ["BC-A"]
    with pytest.raises(InputError, match=r"bad section range 'NB-H..A'"):
        expand("NB-H..A")


def test_builtin_bc_sections_resolve_to_her2st(shared_data):
    refs = resolve("BC-A..D")
    assert [r.name for r in refs] == ["BC-A", "BC-B", "BC-C", "BC-D"]
    assert [r.section for r in refs] == ["A1", "B1", "C1", "D1"]
    assert refs[0].path.resolve() == (shared_data / "her2st").resolve()
    assert [r.name for r in resolve("BC-D, BC-A")] == ["BC-D", "BC-A"]  # comma lists keep order
    assert [r.name for r in resolve(["BC-C", "BC-?"])][:2] == ["BC-C", "BC-A"]  # globs over names


def test_her2st_env_override(monkeypatch, tmp_path, shared_data):
    assert her2st_dir().resolve() == (shared_data / "her2st").resolve()
    monkeypatch.setenv("TISSUE_MIB_HER2ST", str(tmp_path))
    assert resolve("BC-B")[0].path == tmp_path and her2st_dir() == tmp_path
    monkeypatch.setenv("TISSUE_MIB_HER2ST", str(tmp_path / "absent"))
    with pytest.raises(InputError, match=r"BC-B: data not found at .*absent .*sections\.yaml: root 'her2st'"):
        resolve("BC-B")
    with pytest.raises(InputError, match=r"her2st folder not found at .*absent; set TISSUE_MIB_HER2ST"):
        her2st_dir()


def test_nb_without_user_catalogue_says_where_to_get_them():
    with pytest.raises(InputError, match=r"NB-A: .*CELLxGENE collection 4195ab4c-20bd-4cd3-8b3d-65601277e731.*TISSUE_MIB_CATALOGUE") as exc:
        resolve("NB-A..H")
    assert "\n" not in str(exc.value)


def test_unknown_name_lists_known_ones():
    with pytest.raises(InputError, match=r"unknown section 'BC-Z'; known: BC-A, BC-B, BC-C, BC-D, NB-A\.\.H, SYN-NB-A\.\.H, SYN-BC-A\.\.D"):
        resolve("BC-Z")
    with pytest.raises(InputError, match=r"XX-\*: matches no catalogue name and no file"):
        resolve("XX-*")


def test_user_catalogue_registers_nb(tmp_path, shared_data, monkeypatch):
    data = tmp_path / "hnb"
    data.mkdir()
    for c in "AB":
        shutil.copy(shared_data / "visium-fixture-squidpy" / "test_data.h5ad", data / f"NB-{c}.h5ad")
    user = tmp_path / "my_sections.yaml"
    user.write_text("sections:\n  NB-A..B: {path: \"hnb/{name}.h5ad\"}\n  MY-B1: {path: %s, section: B1}\n" % (shared_data / "her2st"))
    refs = resolve("NB-A..B", catalogue=user)
    assert [r.path for r in refs] == [data / "NB-A.h5ad", data / "NB-B.h5ad"]
    with pytest.raises(InputError, match=r"NB-C: .*CELLxGENE"):  # still unavailable, not a silent substitute
        resolve("NB-C", catalogue=user)
    monkeypatch.setenv("TISSUE_MIB_CATALOGUE", str(user))
    a = io.read("NB-B")
    assert set(a.obs["section"]) == {"NB-B"} and set(a.obs["library_id"]) == {"V1_Adult_Mouse_Brain"}
    assert a.n_obs == 49
    assert resolve("MY-B1")[0].section == "B1"


def test_bad_user_catalogue(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sections:\n  NB-A: {pth: x.h5ad}\n")
    with pytest.raises(InputError, match=r"bad\.yaml: sections\.NB-A needs 'path' or 'root'"):
        resolve("NB-A", catalogue=bad)
    bad.write_text("sections: [unclosed\n")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid YAML"):
        resolve("NB-A", catalogue=bad)
    with pytest.raises(InputError, match=r"nope\.yaml: catalogue file not found"):
        resolve("NB-A", catalogue=tmp_path / "nope.yaml")


def test_synthetic_cohort(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("TISSUE_MIB_SYNTHETIC_DIR", str(tmp_path))
    assert synthetic_dir() == tmp_path
    with pytest.raises(InputError, match=r"SYN-BC-A: synthetic section not found in .*; run `tissue-mib demo-data` first"):
        resolve("SYN-BC-A")
    shutil.copy(shared_data / "visium-fixture-squidpy" / "test_data.h5ad", tmp_path / "SYN-BC-A.h5ad")
    shutil.copytree(shared_data / "visium-fixture-scanpy" / "1.0.0", tmp_path / "SYN-BC-B")
    refs = resolve("SYN-BC-A..B")
    assert [r.path for r in refs] == [tmp_path / "SYN-BC-A.h5ad", tmp_path / "SYN-BC-B"]
    b = io.read("SYN-BC-B")
    assert set(b.obs["section"]) == {"SYN-BC-B"} and b.n_obs == 100


def test_path_globs_and_plain_paths(tmp_path, shared_data):
    for name in ("s1", "s2"):
        shutil.copy(shared_data / "visium-fixture-squidpy" / "test_data.h5ad", tmp_path / f"{name}.h5ad")
    refs = resolve(str(tmp_path / "s*.h5ad"))
    assert [r.name for r in refs] == ["s1", "s2"]
    assert resolve(str(tmp_path / "s2.h5ad"))[0].name == "s2"
    with pytest.raises(InputError, match=r"s3\.h5ad: no such file or folder"):
        resolve(str(tmp_path / "s3.h5ad"))
