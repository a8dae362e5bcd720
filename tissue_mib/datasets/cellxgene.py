"""The papers' healthy references from CELLxGENE Discover: `tissue-mib fetch NB-A..H` (or dataset ids).

The collection is read through the public curation API (`GET {api}/collections/{id}`: its
`datasets`, each with `dataset_id`, `dataset_version_id`, `title`, `assay`, `cell_count` and
`assets` [{`filetype`: "H5AD", `url`, `filesize`}]); `TISSUE_MIB_CELLXGENE_API` overrides the
base URL. NB-A..H are the collection's Visium datasets: matched to the papers' spot counts
(DESIGN.md section 6) when every count names exactly one dataset, else the first eight in title
order. Each H5AD is downloaded with pooch into `<user cache>/tissue-mib/cellxgene/` (resumed
after an interruption; its sha256 recorded on first download and checked afterwards) and
registered in the user catalogue, so `train --normal NB-A..H` resolves next.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tissue_mib.errors import InputError
from tissue_mib.utils import atomic_write

logger = logging.getLogger(__name__)

API_ENV = "TISSUE_MIB_CELLXGENE_API"
DEFAULT_API = "https://api.cellxgene.cziscience.com/curation/v1"
COLLECTION = "4195ab4c-20bd-4cd3-8b3d-65601277e731"
NB_NAMES = tuple(f"NB-{c}" for c in "ABCDEFGH")
NB_SPOTS = (2364, 2504, 2224, 3037, 2086, 2801, 2694, 2473)  # DESIGN.md section 6 (the papers' NB-A..H)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Dataset:
    """One dataset of a collection and its H5AD asset."""

    dataset_id: str
    version_id: str
    title: str
    url: str
    n_spots: int | None
    visium: bool


def api_base() -> str:
    return os.environ.get(API_ENV, DEFAULT_API).rstrip("/")


def cache_dir() -> Path:
    """Where the H5AD files go: $TISSUE_MIB_CACHE_DIR/cellxgene or <user cache>/tissue-mib/cellxgene."""
    env = os.environ.get("TISSUE_MIB_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "cellxgene"
    import platformdirs

    return Path(platformdirs.user_cache_dir("tissue-mib")) / "cellxgene"


def collection_datasets(collection_id: str = COLLECTION) -> list[Dataset]:
    """The datasets of a collection with an H5AD asset; InputError (one line) when offline or the answer changed."""
    import requests

    url = f"{api_base()}/collections/{collection_id}"
    try:
        answer = requests.get(url, timeout=60)
        answer.raise_for_status()
        body = answer.json()
    except requests.RequestException as exc:
        raise InputError(f"cannot read CELLxGENE collection {collection_id} from {url} ({type(exc).__name__}; offline?)") from None
    except ValueError:
        raise InputError(f"{url}: the CELLxGENE API answered with something other than JSON (has the API changed?)") from None
    try:
        return [d for d in map(_dataset, body["datasets"]) if d is not None]
    except (KeyError, TypeError) as exc:
        raise InputError(f"{url}: unexpected answer, no {exc} in a dataset (has the CELLxGENE API changed?)") from None


def _dataset(d: dict) -> Dataset | None:
    """The dataset, or None when it has no H5AD asset."""
    asset = next((a for a in d["assets"] if a["filetype"] == "H5AD"), None)
    if asset is None:
        return None
    assays = " ".join(str(a.get("label", "")) for a in d.get("assay") or [])
    return Dataset(
        dataset_id=d["dataset_id"], version_id=d.get("dataset_version_id") or d["dataset_id"], title=d.get("title") or "",
        url=asset["url"], n_spots=d.get("cell_count"), visium="visium" in assays.lower(),
    )  # fmt: skip


def assign_nb(datasets: list[Dataset]) -> tuple[dict[str, Dataset], str]:
    """NB-A..H -> the collection's Visium datasets, and the rule used ("spot count" or "title order")."""
    visium = sorted((d for d in datasets if d.visium), key=lambda d: (d.title, d.dataset_id))
    if len(visium) < len(NB_NAMES):
        raise InputError(f"the collection holds {len(visium)} Visium dataset(s); NB-A..H need {len(NB_NAMES)} (has it changed?)")
    by_count = [[d for d in visium if d.n_spots == n] for n in NB_SPOTS]
    if all(len(m) == 1 for m in by_count) and len({m[0].dataset_id for m in by_count}) == len(NB_NAMES):
        return {name: m[0] for name, m in zip(NB_NAMES, by_count)}, "spot count"
    return dict(zip(NB_NAMES, visium)), "title order"


def resolve(tokens: list[str], *, collection_id: str = COLLECTION) -> list[tuple[str, Dataset, str]]:
    """Names (NB-A..H, ranges) and dataset ids of the collection -> (name, dataset, how it was chosen)."""
    from tissue_mib.io.catalogue import expand

    names = [n for t in tokens for part in t.split(",") if part.strip() for n in expand(part)]
    unknown = [n for n in names if n not in NB_NAMES and not _UUID.match(n)]
    if unknown:
        raise InputError(f"fetch: {', '.join(unknown)}: give NB-A..H or CELLxGENE dataset ids")
    datasets = collection_datasets(collection_id)
    nb, rule = assign_nb(datasets) if any(n in NB_NAMES for n in names) else ({}, "")
    by_id = {d.dataset_id: d for d in datasets}
    chosen = []
    for name in names:
        if name in NB_NAMES:
            chosen.append((name, nb[name], f"Visium dataset by {rule}"))
        elif name in by_id:
            chosen.append((name, by_id[name], "dataset id"))
        else:
            raise InputError(f"fetch: dataset {name} is not in collection {collection_id}")
    return chosen


def download(dataset: Dataset, *, folder: Path | None = None) -> Path:
    """The dataset's H5AD in the cache (downloaded if needed, resumed if interrupted, sha256 checked)."""
    import pooch

    folder = Path(folder or cache_dir())
    registry = _registry(folder)
    fname = f"{dataset.version_id}.h5ad"
    known = registry.get(fname, {}).get("sha256")
    quiet_pooch = pooch.get_logger()  # pooch's own logger writes to stderr directly: keep it to warnings
    level, quiet_pooch.level = quiet_pooch.level, logging.WARNING
    try:
        path = pooch.retrieve(dataset.url, known_hash=f"sha256:{known}" if known else None, fname=fname, path=folder,
                              downloader=_ResumingDownloader(folder / f"{fname}.part"))  # fmt: skip
    except ValueError as exc:  # pooch: hash mismatch after a fresh download
        raise InputError(f"{dataset.url}: {' '.join(str(exc).split())}") from None
    except OSError as exc:  # requests' errors are OSErrors too
        raise InputError(f"cannot download {dataset.url} ({type(exc).__name__}; offline?)") from None
    finally:
        quiet_pooch.level = level
    if not known:
        registry[fname] = {"sha256": pooch.file_hash(path), "dataset_id": dataset.dataset_id, "url": dataset.url}
        with atomic_write(folder / "registry.json") as tmp:
            tmp.write_text(json.dumps(registry, indent=2))
    return Path(path)


def _registry(folder: Path) -> dict:
    path = folder / "registry.json"
    return json.loads(path.read_text()) if path.is_file() else {}


class _ResumingDownloader:
    """A pooch downloader that keeps what arrived in `part` and continues it with an HTTP Range request."""

    def __init__(self, part: Path):
        self.part = part

    def __call__(self, url: str, output_file, pooch_obj, check_only: bool = False):
        import requests

        from tissue_mib.settings import progress_bar

        if check_only:
            return requests.head(url, timeout=60, allow_redirects=True).ok
        done = self.part.stat().st_size if self.part.is_file() else 0
        headers = {"Range": f"bytes={done}-"} if done else {}
        with requests.get(url, headers=headers, stream=True, timeout=60) as answer:
            answer.raise_for_status()
            resumed = answer.status_code == 206
            start = done if resumed else 0
            total = int(answer.headers.get("content-length", 0)) + start
            with progress_bar(desc=self.part.stem, total=total or None, unit="B", unit_scale=True, initial=start) as bar, \
                    open(self.part, "ab" if resumed else "wb") as out:  # fmt: skip
                for chunk in answer.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(self.part, output_file)


def counts_layer(path: Path) -> str | None:
    """"raw" when the file keeps its counts in `.raw` (CELLxGENE: X normalised), else None (X holds them)."""
    import h5py

    with h5py.File(path, "r") as f:
        return "raw" if "raw" in f and "X" in f["raw"] else None
