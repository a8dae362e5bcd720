"""plot_section writes a readable PNG of a section with its domains and anomalies."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tissue_mib.datasets.synthetic.plot import main


def test_plot_section_writes_png(tmp_path):
    out = tmp_path / "img" / "SYN-BC-B.png"
    main(["SYN-BC-B", str(out), "--small"])
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] > 500 and image.shape[1] > 1000
    # outlines in the kind colours are drawn: some pixels close to the "genes" blue (#0072b2)
    blue = np.abs(image.astype(int) - [0, 114, 178]).sum(-1) < 40
    assert blue.sum() > 50
