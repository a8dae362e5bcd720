"""Several processes under `torchrun`: the process group, ranks and the collectives the engine uses.

`torchrun` (or SLURM's `srun` around it) sets WORLD_SIZE, RANK and LOCAL_RANK; the first call
that asks for the rank joins the process group they describe (`init`): gloo for CPU tensors and,
where CUDA is present, NCCL for GPU tensors, each process on GPU LOCAL_RANK. Without those
variables (or with WORLD_SIZE=1) nothing here does anything: rank 0 of 1, collectives are
no-ops, and training is exactly the one-process engine. Ranks other than 0 are quiet (no
progress bars, warnings and errors only). docs/distributed.md.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import torch
from torch import nn

from tissue_mib.errors import InputError
from tissue_mib.settings import settings

T = TypeVar("T")
logger = logging.getLogger(__name__)


def launched() -> bool:
    """True in a process that a launcher started as one of several (WORLD_SIZE > 1 and RANK set)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init() -> bool:
    """Join the launcher's process group once per process; False when not launched as one of several."""
    if not launched():
        return False
    if not torch.distributed.is_available():
        raise InputError("WORLD_SIZE > 1 but this torch build has no torch.distributed; run one process")
    if torch.distributed.is_initialized():
        return True
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo")
    atexit.register(teardown)
    if torch.distributed.get_rank() != 0:
        settings.progress = False
        logging.getLogger("tissue_mib").setLevel(logging.WARNING)
    logger.info("distributed: rank %d of %d (%s)", rank(), world(), torch.distributed.get_backend())
    return True


def teardown() -> None:
    """Leave the process group (registered at exit by `init`)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def active() -> bool:
    """True when this process is one of several ranks (joining the group on first use)."""
    return init() and torch.distributed.get_world_size() > 1


def rank() -> int:
    return torch.distributed.get_rank() if active() else 0


def world() -> int:
    return torch.distributed.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, the one that writes checkpoints, model directories and reports (always True alone)."""
    return rank() == 0


def barrier() -> None:
    if active():
        torch.distributed.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (filling a cache, say), then the other ranks run it."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def share(items: Sequence[T]) -> list[T]:
    """This rank's items: every world()-th one from rank() on (all of them alone)."""
    return list(items[rank() :: world()])


def gather(items: Sequence[T]) -> list[T]:
    """Every rank's `items` (picklable) on every rank, in rank order."""
    if not active():
        return list(items)
    parts: list = [None] * world()
    torch.distributed.all_gather_object(parts, list(items))
    return [x for part in parts for x in part]


def gather_shares(items: Sequence[T]) -> list[T]:
    """What each rank made of its `share` of a sequence, one item per element, back in the
    sequence's order, on every rank."""
    if not active():
        return list(items)
    parts: list = [None] * world()
    torch.distributed.all_gather_object(parts, list(items))
    n = sum(len(p) for p in parts)
    return [parts[i % world()][i // world()] for i in range(n)]


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """The sum over ranks of `values` (a new tensor, no gradient); `values` itself alone."""
    if not active():
        return values
    out = values.detach().clone()
    torch.distributed.all_reduce(out)
    return out


def global_mean(rows: torch.Tensor) -> torch.Tensor:
    """The mean over dim 0 of every rank's `rows` (no gradient): a statistic of the global batch."""
    if not active():
        return rows.mean(0)
    sums = all_reduce_sum(torch.cat([rows.detach().sum(0).reshape(-1), rows.new_tensor([float(len(rows))])]))
    return (sums[:-1] / sums[-1]).reshape(rows.shape[1:])


def all_reduce_grads(params: Iterable[nn.Parameter]) -> None:
    """Sum every gradient over the ranks, in one flat buffer (parameters without one are left as they are)."""
    if not active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_state(module: nn.Module) -> None:
    """Rank 0's parameters and buffers to every rank (in place)."""
    if not active():
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            torch.distributed.broadcast(t.data, src=0)
