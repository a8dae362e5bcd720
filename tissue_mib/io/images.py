"""Images: small PNG/JPEG loading, blank-image detection and `SlideImage`, region access to
full-resolution images (whole-slide TIFF/SVS through openslide, other TIFFs through tifffile +
zarr, plain JPEG/PNG through Pillow) without holding a whole slide in memory."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from tissue_mib.errors import InputError
from tissue_mib.io.guard import check_image_pixels

logger = logging.getLogger(__name__)

_JPEG_SCALES = (1, 2, 4, 8)
_TIFF_SUFFIXES = {".tif", ".tiff", ".svs", ".ndpi", ".scn", ".bif", ".vms", ".vmu", ".mrxs"}


@contextlib.contextmanager
def _pillow_limit_off():
    """Pillow's fixed decompression-bomb limit (~179 Mpx, a warning from 89 Mpx) is replaced by
    ours (`guard.check_image_pixels`, configurable), checked right after the header is read."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _open_pil(path: Path) -> Image.Image:
    """Open an image lazily (the header only) and refuse it above the pixel or memory limit."""
    try:
        with _pillow_limit_off():
            im = Image.open(path)
    except FileNotFoundError:
        raise InputError(f"{path}: image file not found") from None
    except Exception as exc:  # Pillow raises many types for unreadable files
        raise InputError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    try:
        check_image_pixels(*im.size, where=path)
    except InputError:
        im.close()
        raise
    return im


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode a (small) PNG/JPEG/TIFF to uint8 (H, W, 3); alpha is dropped, 16-bit is scaled."""
    path = Path(path)
    im = _open_pil(path)
    try:
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im, dtype=np.float64)
            arr = np.clip(arr / max(arr.max(), 1) * 255, 0, 255).astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot decode image ({exc})") from None


def is_blank(image: np.ndarray) -> bool:
    """True for a near-constant image (std < 1 grey level, or max == min): a placeholder."""
    rgb = np.asarray(image)[..., :3]
    return bool(rgb.size == 0 or rgb.max() == rgb.min() or rgb.std() < 1.0)


class SlideImage:
    """A full-resolution image opened for region reads.

    `shape` is (height, width) in level-0 pixels; `read_region(x, y, w, h, level=0)` returns
    uint8 (h, w, 3) with (x, y) the top-left corner in level-0 pixels and (w, h) in pixels of
    `level`; parts outside the image are zero. `microns_per_pixel` is NaN when the file does
    not say. Whole-slide formats are read through openslide, tiled/pyramidal TIFFs it cannot
    open through tifffile + zarr (only the tiles needed), JPEG/PNG through Pillow (the level
    read last is kept decoded; a JPEG has levels at 1/2, 1/4 and 1/8 scale, decoded directly).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: image file not found")
        self._slide = None
        self._levels = None  # tifffile: list of zarr arrays (Y, X[, S])
        self._pil = None
        self._decoded = None
        self.microns_per_pixel = float("nan")
        if self.path.suffix.lower() in _TIFF_SUFFIXES:
            self._open_tiff()
        else:
            self._pil = _open_pil(self.path)
            W, H = self._pil.size
            # JPEG decodes at 1/2, 1/4, 1/8 scale directly (Pillow draft): offer them as levels
            factors = _JPEG_SCALES if self._pil.format == "JPEG" else (1,)
            self._shapes = [(-(-H // f), -(-W // f)) for f in factors]

    # -- opening ---------------------------------------------------------------------------------
    def _open_tiff(self) -> None:
        import openslide

        try:
            fmt = openslide.OpenSlide.detect_format(str(self.path))
        except Exception:  # noqa: BLE001 - unreadable by openslide: try tifffile below
            fmt = None
        if fmt is not None:
            try:
                self._slide = openslide.OpenSlide(str(self.path))
            except openslide.OpenSlideError as exc:
                logger.info("%s: openslide cannot open it (%s); using tifffile", self.path, exc)
        if self._slide is not None and self._slide.level_count >= _tifffile_level_count(self.path):
            self._shapes = [(h, w) for w, h in self._slide.level_dimensions]
            mpp = self._slide.properties.get(openslide.PROPERTY_NAME_MPP_X)
            self.microns_per_pixel = float(mpp) if mpp else float("nan")
            return
        if self._slide is not None:  # e.g. a pyramid in SubIFDs: openslide sees only level 0
            self._slide.close()
            self._slide = None
        self._open_tifffile()

    def _open_tifffile(self) -> None:
        import tifffile
        import zarr

        try:
            with tifffile.TiffFile(self.path) as tif:
                series = tif.series[0]
                n_levels = len(series.levels)
                axes = series.axes
                self.microns_per_pixel = _tiff_mpp(tif.pages[0])
            self._levels = []
            for level in range(n_levels):
                store = tifffile.imread(self.path, aszarr=True, series=0, level=level)
                self._levels.append(zarr.open(store, mode="r"))
        except Exception as exc:  # noqa: BLE001 - any tifffile failure is a bad file for the user
            raise InputError(f"{self.path}: cannot read TIFF ({type(exc).__name__}: {exc})") from None
        if axes not in ("YXS", "YX"):
            raise InputError(f"{self.path}: TIFF axes {axes!r} are not an RGB or grey image (YXS/YX)")
        self._shapes = [tuple(int(n) for n in a.shape[:2]) for a in self._levels]

    # -- geometry --------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of level 0 in pixels."""
        return self._shapes[0]

    @property
    def level_count(self) -> int:
        return len(self._shapes)

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Downsample factor of each level relative to level 0 (level 0 is 1.0)."""
        h0, w0 = self._shapes[0]
        return tuple((h0 / h + w0 / w) / 2 for h, w in self._shapes)

    def best_level(self, downsample: float) -> int:
        """The coarsest level whose downsample does not exceed `downsample`."""
        ds = np.asarray(self.level_downsamples)
        ok = np.nonzero(ds <= downsample * (1 + 1e-6))[0]
        return int(ok[np.argmax(ds[ok])]) if ok.size else 0

    # -- pixels ----------------------------------------------------------------------------------
    def read_region(self, x: int, y: int, w: int, h: int, *, level: int = 0) -> np.ndarray:
        """uint8 (h, w, 3): the region with top-left (x, y) in level-0 px, size (w, h) in level px."""
        if not 0 <= level < self.level_count:
            raise InputError(f"{self.path}: level {level} out of range (0..{self.level_count - 1})")
        x, y, w, h = int(round(x)), int(round(y)), int(w), int(h)
        if self._slide is not None:
            rgba = np.asarray(self._slide.read_region((x, y), level, (w, h)))
            out = rgba[..., :3].copy()
            out[rgba[..., 3] == 0] = 0
            return out
        ds = self.level_downsamples[level]
        lx, ly = int(round(x / ds)), int(round(y / ds))
        return self._crop(self._level_array(level), lx, ly, w, h, self._shapes[level])

    def _level_array(self, level: int):
        if self._levels is not None:
            return self._levels[level]
        if self._decoded is None or self._decoded[0] != level:  # keep one decoded level only
            self._decoded = None
            h, w = self._shapes[level]
            im = _open_pil(self.path)
            im.draft("RGB", (w, h))
            im = im.convert("RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BOX)
            self._decoded = (level, np.asarray(im, dtype=np.uint8))
        return self._decoded[1]

    @staticmethod
    def _crop(arr, x: int, y: int, w: int, h: int, shape: tuple[int, int]) -> np.ndarray:
        out = np.zeros((h, w, 3), dtype=np.uint8)
        H, W = shape
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
        if x1 <= x0 or y1 <= y0:
            return out
        part = np.asarray(arr[y0:y1, x0:x1])
        if part.ndim == 2:
            part = np.repeat(part[..., None], 3, axis=2)
        out[y0 - y : y1 - y, x0 - x : x1 - x] = _to_uint8(part[..., :3])
        return out

    def thumbnail(self, max_side: int) -> tuple[np.ndarray, float]:
        """A downscaled uint8 (H', W', 3) copy with its longer side `max_side`, and its scale
        relative to level 0 (thumbnail px per full-res px)."""
        H, W = self.shape
        scale = min(1.0, max_side / max(H, W))
        size = (max(1, round(W * scale)), max(1, round(H * scale)))
        if self._slide is not None:
            level = self.best_level(1 / scale)
            lh, lw = self._shapes[level]
            im = self._slide.read_region((0, 0), level, (lw, lh)).convert("RGB")
        elif self._levels is not None:
            level = self.best_level(1 / scale)
            im = Image.fromarray(self._crop(self._levels[level], 0, 0, *self._shapes[level][::-1], self._shapes[level]))
        else:
            im = _open_pil(self.path)  # a fresh handle: draft() lets JPEG decode at 1/2..1/8 size
            im.draft("RGB", size)
            im = im.convert("RGB")
        im = im.resize(size, Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8), size[0] / W

    def close(self) -> None:
        if self._slide is not None:
            self._slide.close()
        if self._pil is not None:
            self._pil.close()
        self._decoded = None

    def __enter__(self) -> SlideImage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SlideImage({str(self.path)!r}, shape={self.shape}, levels={self.level_count})"


def _tifffile_level_count(path: Path) -> int:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return len(tif.series[0].levels)
    except Exception:  # noqa: BLE001 - unreadable by tifffile: keep openslide's view
        return 0


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _tiff_mpp(page) -> float:
    """µm per pixel from a TIFF's XResolution/ResolutionUnit tags, NaN when absent."""
    tags = page.tags
    if "XResolution" not in tags or "ResolutionUnit" not in tags:
        return float("nan")
    num, den = tags["XResolution"].value
    unit = int(tags["ResolutionUnit"].value)
    if num == 0 or unit not in (2, 3):  # 2 = inch, 3 = centimetre
        return float("nan")
    per_unit_um = 25400.0 if unit == 2 else 10000.0
    mpp = per_unit_um * den / num
    return mpp if mpp < 100 else float("nan")  # e.g. a default 72 dpi is not a microscope scale
