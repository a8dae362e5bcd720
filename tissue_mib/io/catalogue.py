"""The section catalogue: names (BC-A, NB-A..H, SYN-BC-A..D) -> data sources.

The built-in `configs/sections.yaml` is merged with a user file (`catalogue=`, the
environment variable TISSUE_MIB_CATALOGUE, or `<user config dir>/tissue-mib/sections.yaml`
when present, where `tissue-mib fetch` registers what it downloads); the user file wins for
the names it defines.
Format and examples: docs/data-formats.md.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


import yaml

from tissue_mib.errors import InputError
from tissue_mib.utils import atomic_write, read_yaml_mapping

logger = logging.getLogger(__name__)

CATALOGUE_ENV = "TISSUE_MIB_CATALOGUE"
SYNTHETIC_ENV = "TISSUE_MIB_SYNTHETIC_DIR"
BUILTIN = Path(__file__).resolve().parents[2] / "configs" / "sections.yaml"  # in the repository checkout
_RANGE = re.compile(r"^(?P<prefix>.*?)(?P<a>[A-Za-z]|\d+)\.\.(?P<b>.+)$")
_ENTRY_KEYS = {"path", "root", "section", "image", "labels_dir", "layer"}
MAX_RANGE = 10_000  # names one range may expand to


@dataclass(frozen=True)
class SectionRef:
    """Where a named section lives: `path` (file or folder), `section` inside a multi-section
    folder (her2st), and optional `image`, `labels_dir`, `layer` passed on to `io.read`."""

    name: str
    path: Path
    section: str | None = None
    image: Path | None = None
    labels_dir: Path | None = None
    layer: str | None = None


def synthetic_dir() -> Path:
    """Folder of the synthetic cohort: $TISSUE_MIB_SYNTHETIC_DIR or <user cache>/tissue-mib/synthetic."""
    env = os.environ.get(SYNTHETIC_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("tissue-mib")) / "synthetic"


def expand(token: str) -> list[str]:
    """Expand a range: `NB-A..H` -> NB-A … NB-H, `S1..3` -> S1, S2, S3 (`NB-A..NB-H` also works)."""
    m = _RANGE.match(token.strip())
    if m is None:
        return [token.strip()]
    prefix, a, b = m["prefix"], m["a"], m["b"]
    if b.startswith(prefix) and b != prefix:
        b = b[len(prefix):]
    if a.isdecimal() and b.isdecimal() and int(a) <= int(b):
        if int(b) - int(a) >= MAX_RANGE:
            raise InputError(f"section range {token!r} names {int(b) - int(a) + 1} sections; at most {MAX_RANGE}")
        width = len(a) if a.startswith("0") else 0
        return [f"{prefix}{i:0{width}d}" for i in range(int(a), int(b) + 1)]
    if len(a) == 1 and len(b) == 1 and (a + b).isascii() and a.isalpha() and b.isalpha() and a.islower() == b.islower() and a <= b:
        return [f"{prefix}{chr(c)}" for c in range(ord(a), ord(b) + 1)]
    raise InputError(f"bad section range {token!r}: use e.g. NB-A..H or S1..12")


class Catalogue:
    """Merged catalogue entries. `resolve(names)` turns names, ranges, lists and globs into SectionRefs."""

    def __init__(self, files: Iterable[Path]):
        self.entries: dict[str, dict] = {}
        self.roots: dict[str, Path] = {}
        self.unavailable: dict[str, str] = {}
        self.synthetic: list[str] = []
        self._patterns: list[str] = []
        for file in files:
            self._load(Path(file))

    def _load(self, file: Path) -> None:
        doc = read_yaml_mapping(file, what="catalogue file")
        base = file.parent
        roots = {}
        for key, spec in _part(doc, "roots", dict, file).items():
            if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not isinstance(spec.get("env", ""), str):
                raise InputError(f"{file}: roots.{key} needs a 'path' (text) and an optional 'env' (a variable name)")
            env = spec.get("env")
            roots[key] = Path(os.environ[env]).expanduser() if env and os.environ.get(env) else base / Path(spec["path"]).expanduser()
        self.roots.update(roots)
        for key, spec in _part(doc, "sections", dict, file).items():
            if not isinstance(spec, dict) or not ({"path", "root"} & spec.keys()) or spec.keys() - _ENTRY_KEYS:
                raise InputError(f"{file}: sections.{key} needs 'path' or 'root' (keys: {', '.join(sorted(_ENTRY_KEYS))})")
            _check_entry(spec, where=f"{file}: sections.{key}")
            if "root" in spec and spec["root"] not in roots:
                raise InputError(f"{file}: sections.{key} uses unknown root {spec['root']!r}")
            self._patterns.append(str(key))
            for name in expand(str(key)):
                self.unavailable.pop(name, None)
                self.entries[name] = {**spec, "_file": file, "_base": base, "_root": roots.get(spec.get("root"))}
        for key, message in _part(doc, "unavailable", dict, file).items():
            self._patterns.append(str(key))
            for name in expand(str(key)):
                if name not in self.entries:
                    self.unavailable[name] = " ".join(str(message).split())
        for key in _part(doc, "synthetic", list, file):
            self._patterns.append(str(key))
            self.synthetic.extend(expand(str(key)))

    def known(self) -> str:
        """The known names as written in the catalogues (ranges kept short)."""
        return ", ".join(dict.fromkeys(self._patterns))

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.entries, *self.unavailable, *self.synthetic]))

    def resolve(self, names: str | Iterable[str]) -> list[SectionRef]:
        tokens = [names] if isinstance(names, str | os.PathLike) else list(names)
        refs: list[SectionRef] = []
        for token in tokens:
            for part in str(token).split(","):
                part = part.strip()
                if part:
                    refs.extend(self._resolve_token(part))
        if not refs:
            raise InputError("no section names given")
        return refs

    def _resolve_token(self, token: str) -> list[SectionRef]:
        if Path(token).expanduser().exists():
            return [ref_for_path(Path(token).expanduser())]
        if any(c in token for c in "*?["):
            matched = fnmatch.filter(self.names(), token)
            if matched:
                return [self._ref(n) for n in matched]
            paths = sorted(glob.glob(os.path.expanduser(token)))
            if not paths:
                raise InputError(f"{token}: matches no catalogue name and no file (known: {self.known()})")
            return [ref_for_path(Path(p)) for p in paths]
        if os.sep in token or "/" in token or token.endswith((".h5ad", ".h5")):
            raise InputError(f"{token}: no such file or folder")
        if ".." in token and _RANGE.match(token):
            return [self._ref(n) for n in expand(token)]
        return [self._ref(token)]

    def _ref(self, name: str) -> SectionRef:
        if name in self.entries:
            return self._entry_ref(name, self.entries[name])
        if name in self.synthetic:
            return _synthetic_ref(name)
        if name in self.unavailable:
            raise InputError(f"{name}: {self.unavailable[name]}")
        raise InputError(f"unknown section {name!r}; known: {self.known()}; or give a path")

    def _entry_ref(self, name: str, spec: dict) -> SectionRef:
        base = spec["_base"]

        def where(value):
            return None if value is None else base / Path(str(value).format(name=name)).expanduser()

        path = spec["_root"] if "root" in spec else where(spec["path"])
        if not path.exists():
            what = f"root {spec['root']!r} (set its env variable)" if "root" in spec else "path"
            raise InputError(f"{name}: data not found at {path} ({spec['_file']}: {what})")
        section = spec.get("section")
        return SectionRef(
            name=name,
            path=path,
            section=None if section is None else str(section).format(name=name),
            image=where(spec.get("image")),
            labels_dir=where(spec.get("labels_dir")),
            layer=spec.get("layer"),
        )


def _part(doc: dict, key: str, kind: type, file: Path):
    """`doc[key]` (empty when absent), which must be a `kind` (dict or list)."""
    value = doc.get(key) or kind()
    if not isinstance(value, kind):
        raise InputError(f"{file}: '{key}' must be a {'mapping' if kind is dict else 'list'}, got {type(value).__name__}")
    return value


def _check_entry(spec: dict, *, where: str) -> None:
    """A section entry's values are text or numbers, and `{name}` is the only placeholder."""
    for key, value in spec.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InputError(f"{where}.{key} must be text, got {type(value).__name__}")
        try:
            str(value).format(name="X")
        except (KeyError, IndexError, ValueError, AttributeError):
            raise InputError(f"{where}.{key} = {value!r}: the only placeholder allowed is {{name}}") from None


def _synthetic_ref(name: str) -> SectionRef:
    folder = synthetic_dir()
    for path in (folder / f"{name}.h5ad", folder / name):
        if path.exists():
            return SectionRef(name=name, path=path)
    raise InputError(f"{name}: synthetic section not found in {folder} (as {name}.h5ad or {name}/); run `tissue-mib demo-data` first")


def ref_for_path(path: Path) -> SectionRef:
    """A SectionRef for a plain path; its name is the file stem or folder name (parent of `outs`)."""
    path = Path(path)
    name = path.parent.name if path.name == "outs" else (path.stem if path.is_file() else path.name)
    return SectionRef(name=name, path=path)


def user_catalogue() -> Path:
    """The user catalogue: $TISSUE_MIB_CATALOGUE, else <user config dir>/tissue-mib/sections.yaml."""
    env = os.environ.get(CATALOGUE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("tissue-mib")) / "sections.yaml"


def load(catalogue: str | os.PathLike | None = None) -> Catalogue:
    """The built-in catalogue merged with `catalogue`, else the user catalogue (if set or present)."""
    files = [BUILTIN]
    if not BUILTIN.is_file():
        logger.warning("%s not found (not an editable install of the repository?); only a user catalogue applies", BUILTIN)
        files = []
    user = Path(catalogue).expanduser() if catalogue is not None else user_catalogue()
    if catalogue is not None or os.environ.get(CATALOGUE_ENV) or user.is_file():
        files.append(user)
    return Catalogue(files)


def register(entries: dict[str, dict], *, catalogue: str | os.PathLike | None = None) -> Path:
    """Add or replace `entries` (name -> {path: ..., layer: ...}) in the user catalogue; returns its path."""
    path = Path(catalogue).expanduser() if catalogue is not None else user_catalogue()
    doc = read_yaml_mapping(path, what="catalogue file") if path.is_file() else {}
    doc["sections"] = {**(doc.get("sections") or {}), **entries}
    with atomic_write(path) as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def her2st_dir(*, catalogue: str | os.PathLike | None = None) -> Path:
    """The her2st folder: the catalogue's `her2st` root ($TISSUE_MIB_HER2ST overrides it)."""
    root = load(catalogue).roots.get("her2st")
    if root is None or not root.is_dir():
        raise InputError(f"her2st folder not found at {root}; set TISSUE_MIB_HER2ST to its path")
    return root


def resolve(names: str | Iterable[str], *, catalogue: str | os.PathLike | None = None) -> list[SectionRef]:
    """Names, ranges (`NB-A..H`), comma lists and globs (names or paths) -> SectionRefs in order.

    Unknown names raise InputError listing the known ones; names the catalogue knows but
    cannot serve (NB-A..H without a user catalogue, a missing synthetic cohort) say where to
    get the data.
    """
    return load(catalogue).resolve(names)
