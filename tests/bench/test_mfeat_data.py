"""The UCI mfeat loader on the real files in ../shared/data/uci-mfeat."""

import shutil

import numpy as np
import pytest

from tissue_mib.datasets.mfeat import load_mfeat
from tissue_mib.errors import InputError


def test_views_labels_and_fixed_stratified_split(shared_data):
    d = load_mfeat(shared_data / "uci-mfeat", views=("fou", "fac", "zer"))
    assert {k: v.shape for k, v in d.views.items()} == {"fou": (2000, 76), "fac": (2000, 216), "zer": (2000, 47)}
    assert np.bincount(d.y).tolist() == [200] * 10
    assert np.bincount(d.y[d.test]).tolist() == [60] * 10
    assert len(d.train) == 1400 and not set(d.train) & set(d.test)
    again = load_mfeat(shared_data / "uci-mfeat", views=("mor", "fou"))
    np.testing.assert_array_equal(again.test, d.test)  # the split does not depend on the views
    # standardised with the training rows
    assert np.allclose(d.views["fou"][d.train].mean(axis=0), 0, atol=1e-4)


def test_unknown_view_and_missing_file(shared_data, tmp_path):
    with pytest.raises(InputError, match="views"):
        load_mfeat(shared_data / "uci-mfeat", views=("fou", "xyz"))
    shutil.copy(shared_data / "uci-mfeat" / "mfeat-fou.csv", tmp_path / "mfeat-fou.csv")
    with pytest.raises(InputError, match="mfeat-fac.csv"):
        load_mfeat(tmp_path, views=("fou", "fac"))


def test_misaligned_views_are_refused(shared_data, tmp_path):
    for v in ("fou", "zer"):
        shutil.copy(shared_data / "uci-mfeat" / f"mfeat-{v}.csv", tmp_path / f"mfeat-{v}.csv")
    lines = (tmp_path / "mfeat-zer.csv").read_text().splitlines()
    lines[1], lines[-1] = lines[-1], lines[1]  # swap a digit-0 row with a digit-9 row
    (tmp_path / "mfeat-zer.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"mfeat-zer.csv: label column differs") as err:
        load_mfeat(tmp_path, views=("fou", "zer"))
    assert "\n" not in str(err.value)
