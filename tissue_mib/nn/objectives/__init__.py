"""Objectives: Deep SVDD (`svdd`), VIB and KL terms (`vib`), OMIB's r, MINE and beta bounds (`omib`),
IBMA's information-bottleneck bounds (`ibma`). Plain functions and small modules, imported by name."""
