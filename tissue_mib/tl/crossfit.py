"""`CrossFitModel`: K models of one method, each trained with another group of sections held out.

Every training section then calibrates, scored by the one model that did not train on it, so
the calibration spans the sections' batch effects instead of those of the one or two sections
a single model holds out. `tl.score` scores a new section with every member and combines them
into cross-conformal p-values (`calibration.cross_conformal_pvalues`); the reported score is
the members' mean. On disk: `crossfit.json` and one model directory per member (`fold-1`, ...).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tissue_mib import __version__
from tissue_mib.errors import InputError
from tissue_mib.tl.model import TissueModel
from tissue_mib.train import ModelDir

MANIFEST = "crossfit.json"


@dataclass
class CrossFitModel:
    """K >= 2 `TissueModel`s of one method, gene panel settings and score rule; `members[k]`
    held out the sections `members[k].holdout['holdout_sections']`."""

    members: list[TissueModel]
    path: Path | None = None

    def __post_init__(self):
        if len(self.members) < 2 or len({(m.name, m.score_rule, m.modalities) for m in self.members}) != 1:
            raise InputError("a cross-fitted model needs 2 or more members of one method, score rule and modalities")

    @property
    def name(self) -> str:
        return self.members[0].name

    @property
    def score_rule(self) -> str:
        return self.members[0].score_rule

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.members[0].modalities

    @property
    def panel(self):
        """The first member's gene panel (each member fits its own on its training sections)."""
        return self.members[0].panel

    @property
    def prep(self):
        return self.members[0].prep

    @property
    def calibration(self) -> np.ndarray:
        """(n,) every member's calibration scores, concatenated."""
        return np.concatenate([m.calibration for m in self.members])

    def summary(self) -> str:
        held = "; ".join(", ".join(m.holdout.get("holdout_sections", [])) for m in self.members)
        return (f"cross-fitted {self.name}: {len(self.members)} models, held out in turn: {held}; "
                f"{self.calibration.size} calibration scores\n" + self.members[0].summary())  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write `crossfit.json` and `fold-1..K` to `path` (through a temporary sibling, renamed into place)."""
        path = Path(path)
        ModelDir.check_target(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            names = [f"fold-{k}" for k in range(1, len(self.members) + 1)]
            for name, member in zip(names, self.members):
                member.save(tmp / name)
            (tmp / MANIFEST).write_text(json.dumps({"method": self.name, "members": names, "version": __version__}))
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        for name, member in zip(names, self.members):
            member.path = path / name
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path) -> CrossFitModel:
        path = Path(path)
        try:
            names = json.loads((path / MANIFEST).read_text())["members"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path / MANIFEST}: cannot be read ({type(exc).__name__})") from exc
        return cls([TissueModel.load(path / str(name)) for name in names], path=path)


def load_model(path: str | Path) -> TissueModel | CrossFitModel:
    """The model in directory `path`: a cross-fitted one when it holds `crossfit.json`, else a `TissueModel`."""
    return CrossFitModel.load(path) if (Path(path) / MANIFEST).is_file() else TissueModel.load(path)
