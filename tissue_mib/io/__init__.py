"""Readers and the section catalogue.

`read(source, *, section=None, image=None, layer=None, labels_dir=None)` reads Space Ranger
folders, Visium HD bins, .h5ad files, the legacy ST layout (her2st) or a catalogue name into
the AnnData layout of docs/dev/architecture.md section 1; `read_matrix` reads a 10x matrix
alone; `concat` stacks sections; `catalogue.resolve` expands names such as `NB-A..H`;
`SlideImage` reads regions of full-resolution images.
"""

from tissue_mib.io import catalogue
from tissue_mib.io.concat import concat
from tissue_mib.io.images import SlideImage
from tissue_mib.io.matrix import read_matrix
from tissue_mib.io.read import read

__all__ = ["SlideImage", "catalogue", "concat", "read", "read_matrix"]
