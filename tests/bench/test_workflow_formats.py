"""Workflow file formats: readers on the synthetic stand-ins, and one-line errors naming file and field."""

import os
import pickle

import numpy as np
import pytest

from tissue_mib.datasets.workflows import (
    EMOTIONS,
    FINDINGS,
    pickle_to_npz,
    read_cxr,
    read_emotion,
    read_sentiment,
    write_synthetic_cxr,
    write_synthetic_emotion,
    write_synthetic_sentiment,
)
from tissue_mib.datasets.workflows.safe_pickle import safe_load
from tissue_mib.errors import InputError


def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def _rewrite_npz(src, dst, **changes):
    with np.load(src) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    np.savez(dst, **arrays)
    return dst


# ------------------------------------------------------------------ emotion
@pytest.mark.parametrize("raw", [False, True])
def test_emotion_synthetic_round_trip(tmp_path, raw):
    d = read_emotion(write_synthetic_emotion(tmp_path / "e.npz", n=60, raw=raw))
    assert d.task == "multiclass" and d.label_names == EMOTIONS
    assert d.modalities["audio"].shape[0] == d.modalities["video"].shape[0] == 60
    assert d.modalities["video"].dtype == (np.uint8 if raw else np.float32)
    assert set(d.split) == {"train", "valid", "test"} and set(d.y) <= set(range(6))


@pytest.fixture
def emotion_file(tmp_path):
    return write_synthetic_emotion(tmp_path / "good.npz", n=60)


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda a: {"audio": a["audio"][:, :, None, None]}, "audio", "must be 2-D or 3-D"),
        (lambda a: {"video": a["video"][:-3]}, "video", "sample counts must match"),
        (lambda a: {"label": np.where(np.arange(60) == 5, 6, a["label"])}, "label", "out of range 0..5"),
        (lambda a: {"audio": np.where(np.arange(60)[:, None] == 7, np.nan, a["audio"])}, "audio", "NaN"),
        (lambda a: {"split": np.array(["train"] * 60)}, "split", "no 'test' rows"),
    ],
)
def test_emotion_bad_input(emotion_file, tmp_path, change, field, words):
    with np.load(emotion_file) as npz:
        arrays = {k: npz[k] for k in npz.files}
    bad = _rewrite_npz(emotion_file, tmp_path / "bad.npz", **change(arrays))
    with pytest.raises(InputError) as err:
        read_emotion(bad)
    msg = _one_line(err)
    assert str(bad) in msg and f"'{field}'" in msg and words in msg


def test_emotion_missing_field_and_pickled_npz(emotion_file, tmp_path):
    with np.load(emotion_file) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "video"}
    np.savez(tmp_path / "novideo.npz", **arrays)
    with pytest.raises(InputError, match=r"missing field\(s\) \['video'\]"):
        read_emotion(tmp_path / "novideo.npz")
    np.savez(tmp_path / "obj.npz", **arrays, video=np.array([object()] * 60, dtype=object))
    with pytest.raises(InputError, match="without pickled objects"):
        read_emotion(tmp_path / "obj.npz")


# ---------------------------------------------------------------- sentiment
def test_sentiment_pickle_and_npz_agree(tmp_path):
    pkl = write_synthetic_sentiment(tmp_path / "s.pkl", n=50, steps=4)
    a = read_sentiment(pkl)
    b = read_sentiment(pickle_to_npz(pkl, tmp_path / "s.npz"))
    assert a.task == "regression" and a.modalities["text"].shape == (50, 4, 24)
    assert a.y.min() >= -3 and a.y.max() <= 3
    for m in ("text", "audio", "vision"):
        np.testing.assert_array_equal(a.modalities[m], b.modalities[m])
    np.testing.assert_array_equal(a.split, b.split)


def _sentiment(tmp_path, mutate):
    splits = pickle.loads(write_synthetic_sentiment(tmp_path / "s.pkl", n=40, steps=3).read_bytes())
    mutate(splits)
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(splits))
    return path


@pytest.mark.parametrize(
    "mutate, field, words",
    [
        (lambda s: s["train"].update(audio=s["train"]["audio"][:, 0]), "train.audio", "must be 3-D"),
        (lambda s: s["test"].update(vision=s["test"]["vision"][:-1]), "test.vision", "sample counts must match"),
        (lambda s: s["valid"]["regression_labels"].__setitem__(0, 3.5), "valid.regression_labels", "out of range [-3, 3]"),
        (lambda s: s["train"]["text"].__setitem__((2, 1, 0), np.nan), "train.text", "NaN"),
        (lambda s: s["test"].update(audio=s["test"]["audio"][:, :, :5]), "test.audio", "feature shape"),
    ],
)
def test_sentiment_bad_input(tmp_path, mutate, field, words):
    path = _sentiment(tmp_path, mutate)
    with pytest.raises(InputError) as err:
        read_sentiment(path)
    msg = _one_line(err)
    assert str(path) in msg and f"'{field}'" in msg and words in msg


def test_sentiment_converter_replaces_inf(tmp_path):
    path = _sentiment(tmp_path, lambda s: s["train"]["audio"].__setitem__((0, 0, 0), -np.inf))
    with pytest.raises(InputError, match="'train.audio' has 1 NaN/inf"):
        read_sentiment(path)
    d = read_sentiment(pickle_to_npz(path, tmp_path / "fixed.npz", replace_inf=0.0))
    assert d.modalities["audio"][0, 0, 0] == 0.0


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused_before_anything_runs(tmp_path, monkeypatch):
    path = _sentiment(tmp_path, lambda s: s["train"].update(extra=_Payload()))
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    with pytest.raises(InputError) as err:
        read_sentiment(path)
    msg = _one_line(err)
    assert str(path) in msg and "refused to unpickle" in msg and "system" in msg
    assert calls == []
    with pytest.raises(InputError, match="refused"):
        pickle_to_npz(path, tmp_path / "never.npz")
    assert not (tmp_path / "never.npz").exists()


@pytest.mark.parametrize("proto", [2, 4, 5])
def test_safe_load_accepts_plain_containers_and_numpy(tmp_path, proto):
    obj = {"a": [1, 2.5, "x", b"y", (None, True)], "arr": np.arange(6, dtype=np.float32).reshape(2, 3),
           "s": np.array(["u", "vv"]), "scalar": np.float64(1.5), "dtype": np.dtype("int16")}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=proto))
    back = safe_load(path)
    np.testing.assert_array_equal(back["arr"], obj["arr"])
    assert back["a"] == obj["a"] and back["scalar"] == 1.5 and back["dtype"] == np.dtype("int16")


def test_safe_load_refuses_other_classes(tmp_path):
    import collections

    path = tmp_path / "c.pkl"
    path.write_bytes(pickle.dumps(collections.Counter("aab")))
    with pytest.raises(InputError, match="collections.Counter"):
        safe_load(path)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="not a readable data pickle"):
        safe_load(tmp_path / "junk.pkl")


# ---------------------------------------------------------------------- cxr
@pytest.mark.parametrize("suffix", ["npz", "parquet"])
def test_cxr_synthetic_npz_and_parquet(tmp_path, suffix):
    d = read_cxr(write_synthetic_cxr(tmp_path / f"c.{suffix}", n=80))
    assert d.task == "multilabel" and d.label_names == FINDINGS
    assert d.y.shape == (80, 5) and set(np.unique(d.y)) <= {0.0, 1.0}
    assert d.modalities["image"].shape == (80, 64) and d.modalities["report"].shape == (80, 48)


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda a: {"report": a["report"][:, :, None]}, "report", "must be 2-D"),
        (lambda a: {"labels": a["labels"][:-1]}, "labels", "sample counts must match"),
        (lambda a: {"labels": np.where(np.arange(80)[:, None] == 4, -1.0, a["labels"])}, "labels", "out of range [0, 1]"),
        (lambda a: {"labels": a["labels"][:, :4]}, "labels", "must have 5 columns"),
        (lambda a: {"image": np.where(np.arange(80)[:, None] == 9, np.inf, a["image"])}, "image", "NaN/inf"),
    ],
)
def test_cxr_bad_input(tmp_path, change, field, words):
    good = write_synthetic_cxr(tmp_path / "good.npz", n=80)
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    bad = _rewrite_npz(good, tmp_path / "bad.npz", **change(arrays))
    with pytest.raises(InputError) as err:
        read_cxr(bad)
    msg = _one_line(err)
    assert str(bad) in msg and f"'{field}'" in msg and words in msg


def test_cxr_parquet_missing_column(tmp_path):
    import pyarrow.parquet as pq

    path = write_synthetic_cxr(tmp_path / "c.parquet", n=40)
    pq.write_table(pq.read_table(path).drop(["Edema"]), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"bad.parquet: missing column\(s\) \['Edema'\]"):
        read_cxr(tmp_path / "bad.parquet")
