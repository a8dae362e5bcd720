"""`tissue-mib fetch` against a local HTTP server: the CELLxGENE curation API answer in
`data/cellxgene_collection.json` (shaped after the API's collection schema, `{base}` replaced by the
server's URL) and a small h5ad in the CELLxGENE Visium layout."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tissue_mib import io
from tissue_mib.datasets import cellxgene
from tissue_mib.pp.panel import GenePanel

ANSWER = Path(__file__).parent / "data" / "cellxgene_collection.json"
N_GENES = 60


def cellxgene_visium_h5ad(path: Path, *, seed: int = 0, library: str = "donor1") -> Path:
    """A 150-spot Visium section as CELLxGENE serves it: normalised X, counts in .raw, Ensembl var_names,
    symbols in var['feature_name'], obsm['spatial'], uns['spatial'] = {is_single, lib: {images, scalefactors}}."""
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.arange(10), np.arange(15), indexing="ij")
    array_row = rows.ravel()
    array_col = 2 * cols.ravel() + array_row % 2
    xy = np.column_stack([200 + 100.0 * array_col, 200 + 173.2 * array_row])  # 0.5 um per px: 100 um pitch
    counts = rng.poisson(rng.gamma(2.0, 2.0, N_GENES), size=(len(xy), N_GENES)).astype(np.float32)
    ids = pd.Index([f"ENSG{i:011d}" for i in range(1, N_GENES + 1)])
    var = pd.DataFrame({"feature_name": pd.Categorical([f"GENE{i}" for i in range(1, N_GENES + 1)]),
                        "feature_is_filtered": False}, index=ids)  # fmt: skip
    norm = np.log1p(counts / np.maximum(counts.sum(1, keepdims=True), 1) * 1e4)
    obs = pd.DataFrame({"in_tissue": 1, "array_row": array_row, "array_col": array_col},
                       index=[f"spot{i}" for i in range(len(xy))])  # fmt: skip
    adata = ad.AnnData(X=sp.csr_matrix(norm), obs=obs, var=var)
    adata.raw = ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=ids))
    adata.obsm["spatial"] = xy
    image = rng.integers(120, 230, size=(230, 360, 3), dtype=np.uint8)
    adata.uns["spatial"] = {"is_single": np.bool_(True), library: {
        "images": {"hires": image}, "scalefactors": {"spot_diameter_fullres": 110.0, "tissue_hires_scalef": 0.1}}}
    adata.write_h5ad(path)
    return path


class _Server:
    """Serves the API answer, the h5ad files (with Range) and records what it was asked."""

    def __init__(self, files: dict[str, Path], answer: str | None = None):
        self.files = {name: path.read_bytes() for name, path in files.items()}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path.startswith("/curation/v1/collections/"):
                    body = (answer or ANSWER.read_text()).replace("{base}", server.url).encode()
                    self._send(200, body, "application/json")
                elif self.path.removeprefix("/files/") in server.files:
                    data = server.files[self.path.removeprefix("/files/")]
                    start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                    self._send(206 if start else 200, data[start:], "application/octet-stream")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, code, body, kind):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def files_asked(self) -> list:
        return [r for r in self.requests if r[0].startswith("/files/")]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One small h5ad per dataset of the answer (its own library id and counts), by URL file name."""
    folder = tmp_path_factory.mktemp("cxg")
    answer = json.loads(ANSWER.read_text())["datasets"]
    return {f"{d['dataset_version_id']}.h5ad": cellxgene_visium_h5ad(folder / f"{i}.h5ad", seed=i, library=f"donor{i + 1}")
            for i, d in enumerate(answer)}  # fmt: skip


@pytest.fixture(scope="module")
def h5ad(files) -> Path:
    return next(iter(files.values()))


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TISSUE_MIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TISSUE_MIB_CATALOGUE", str(tmp_path / "user" / "sections.yaml"))
    return tmp_path


@pytest.fixture
def serve(monkeypatch, files):
    """Start a server (optionally with another API answer) and point TISSUE_MIB_CELLXGENE_API at it."""
    servers = []

    def start(answer: str | None = None) -> _Server:
        servers.append(_Server(files, answer))
        monkeypatch.setenv(cellxgene.API_ENV, f"{servers[-1].url}/curation/v1")
        return servers[-1]

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()



def test_fetch_registers_nb_a_to_h_and_train_resolves_them(env, serve, cli):
    server = serve()
    code, out, err = cli("fetch", "NB-A..H")
    assert code == 0, err
    answer = json.loads(ANSWER.read_text())["datasets"]
    by_count = {d["cell_count"]: d for d in answer}
    for name, n in zip(cellxgene.NB_NAMES, cellxgene.NB_SPOTS):  # matched by the papers' spot counts
        assert f"{name} -> {by_count[n]['dataset_id']} " in out and "Visium dataset by spot count" in out
    assert "registered NB-A, NB-B, NB-C, NB-D, NB-E, NB-F, NB-G, NB-H in" in out
    assert len(server.files_asked()) == 8
    registry = json.loads((env / "cache" / "cellxgene" / "registry.json").read_text())
    assert len(registry) == 8 and all(len(r["sha256"]) == 64 for r in registry.values())

    refs = io.catalogue.resolve("NB-A..H")
    assert [r.name for r in refs] == list(cellxgene.NB_NAMES) and all(r.layer == "raw" for r in refs)
    section = io.read(refs[0])
    assert section.n_obs == 150 and float(section.X.max()) == int(section.X.max())  # the counts of .raw

    code, out, err = cli("fetch", "NB-A,NB-B")  # cached and checked: nothing downloaded again
    assert code == 0, err
    assert len(server.files_asked()) == 8

    code, out, err = cli("-q", "train", "--normal", "NB-A..H", "--method", "gene-svdd",
                         "--genes-only", "--epochs", "1", "--out", env / "model")  # fmt: skip
    assert code == 0, err
    assert "trained gene-svdd on 8 section(s)" in out


def test_dataset_id_and_title_order(env, serve, cli):
    serve()
    scrna = json.loads(ANSWER.read_text())["datasets"][-1]["dataset_id"]
    datasets = cellxgene.collection_datasets()
    assert [d.visium for d in datasets].count(True) == 8
    shuffled = [d.__class__(**{**d.__dict__, "n_spots": 1000}) for d in datasets]
    nb, rule = cellxgene.assign_nb(shuffled)
    assert rule == "title order" and [d.title for d in nb.values()] == sorted(d.title for d in datasets if d.visium)
    code, out, err = cli("fetch", scrna)
    assert code == 0, err
    assert f"{scrna} -> {scrna} 'All cells - scRNA-seq' (714,331 spots; dataset id)" in out
    assert io.catalogue.resolve(scrna)[0].path.is_file()


def test_interrupted_download_resumes_with_a_range_request(env, serve, files):
    server = serve()
    dataset = cellxgene.collection_datasets()[0]
    h5ad = files[f"{dataset.version_id}.h5ad"]
    folder = env / "cache" / "cellxgene"
    folder.mkdir(parents=True)
    whole = h5ad.read_bytes()
    (folder / f"{dataset.version_id}.h5ad.part").write_bytes(whole[: len(whole) // 2])
    path = cellxgene.download(dataset)
    assert path.read_bytes() == whole and not (folder / f"{dataset.version_id}.h5ad.part").exists()
    assert server.files_asked() == [(f"/files/{dataset.version_id}.h5ad", f"bytes={len(whole) // 2}-")]


def test_offline_is_one_line_and_exit_2(env, monkeypatch, cli):
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(cellxgene.API_ENV, f"http://127.0.0.1:{port}/curation/v1")
    code, out, err = cli("fetch", "NB-A..H")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: cannot read CELLxGENE collection 4195ab4c") and "offline?" in err


def test_changed_api_is_one_line_and_exit_2(env, serve, cli):
    serve(answer=json.dumps({"datasets": [{"dataset_id": "x", "files": []}]}))
    code, _, err = cli("fetch", "NB-A")
    assert code == 2 and err.count("\n") == 1 and "has the CELLxGENE API changed?" in err


def test_reader_and_panel_read_the_cellxgene_visium_layout(h5ad):
    adata = io.read(h5ad, layer="raw")
    lib = adata.obs["library_id"].iloc[0]
    assert lib == "donor1" and set(adata.uns["spatial"]) == {"donor1"}  # `is_single` is not a library
    entry = adata.uns["spatial"]["donor1"]
    assert entry["images"]["hires"].shape == (230, 360, 3)
    assert entry["scalefactors"]["microns_per_pixel"] == pytest.approx(0.5)
    assert list(adata.var["gene_symbols"][:2]) == ["GENE1", "GENE2"] and adata.var["gene_ids"].iloc[0] == "ENSG00000000001"
    assert not entry["metadata"]["is_normalised"] and io.read(h5ad).uns["spatial"]["donor1"]["metadata"]["is_normalised"]
    symbols = GenePanel(genes=tuple(f"GENE{i}" for i in range(N_GENES, 0, -1)), gene_ids=("",) * N_GENES)
    assert (symbols.match(adata) == np.arange(N_GENES)[::-1]).all()  # by symbol, in panel order
