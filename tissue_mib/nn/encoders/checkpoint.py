"""Loading a local encoder checkpoint (a state dict) with clear errors; never downloads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from `path` with `torch.load(weights_only=True)`.

    A dict of tensors, or such a dict under the key ``"state_dict"``. Anything else, or an
    unreadable (truncated, corrupt, foreign) file, is an InputError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"encoder checkpoint {path} does not exist or is not a file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle of non-tensors, random bytes ...
        raise InputError(f"encoder checkpoint {path} cannot be read as a torch state dict: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise InputError(f"encoder checkpoint {path} is not a state dict (a non-empty mapping of names to tensors)")
    return obj


def load_into(
    module: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    source: str | Path,
    ignore: Callable[[str], bool] = lambda key: False,
) -> None:
    """Load `state` (read from `source`) into `module` strictly, except keys where `ignore(key)`.

    Ignored keys are dropped (logged). Any other missing or unexpected key, or a shape
    mismatch, is an InputError naming `source` and the first offenders.
    """
    dropped = sorted(k for k in state if ignore(k))
    if dropped:
        logger.info("encoder checkpoint %s: ignoring %d entries (%s)", source, len(dropped), ", ".join(dropped[:5]))
    state = {k: v for k, v in state.items() if not ignore(k)}
    own = module.state_dict()
    unexpected = sorted(set(state) - set(own))
    missing = sorted(set(own) - set(state))
    wrong_shape = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    problems = []
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) ({', '.join(unexpected[:5])})")
    if missing:
        problems.append(f"{len(missing)} missing key(s) ({', '.join(missing[:5])})")
    if wrong_shape:
        k = wrong_shape[0]
        problems.append(f"{len(wrong_shape)} shape mismatch(es) (first {k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)})")
    if problems:
        raise InputError(f"encoder checkpoint {source} does not fit {type(module).__name__}: {'; '.join(problems)}")
    module.load_state_dict(state, strict=True)
    logger.info("loaded encoder checkpoint %s (%d tensors)", source, len(state))
