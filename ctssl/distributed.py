"""One process per device under torchrun (NCCL on CUDA, gloo on CPU), or a single plain process."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(requested: str) -> torch.device:
    """'auto' -> cuda when present, else cpu; 'cuda' without a GPU is an error, not a silent CPU run."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device: use --device cpu or auto")
    return torch.device(requested)


def start(requested_device: str) -> Context:
    """Join the torchrun process group when launched by torchrun (WORLD_SIZE set), else run alone."""
    device = pick_device(requested_device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Context(0, 1, device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(), device)


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(values: dict[str, float], context: Context) -> dict[str, float]:
    """Average scalar logs over ranks (one all-reduce), so the log shows the global loss."""
    if context.world_size == 1 or not values:
        return values
    stacked = torch.tensor(list(values.values()), dtype=torch.float64, device=context.device)
    dist.all_reduce(stacked)
    return dict(zip(values, (stacked / context.world_size).tolist(), strict=True))


def broadcast(value: str, context: Context) -> str:
    """Rank 0's ``value`` on every rank."""
    if context.world_size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])


def all_true(flag: bool, context: Context) -> bool:
    """True on every rank when ``flag`` is true on every rank: lets all ranks stop together."""
    if context.world_size == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() == 1.0)


def any_true(flag: bool, context: Context) -> bool:
    """True on every rank when ``flag`` is true on some rank (one all-reduce)."""
    return not all_true(not flag, context)


def check_in_sync(model: torch.nn.Module, context: Context) -> None:
    """Raise when the ranks' weights differ: gradients were not averaged, and the run is not one run."""
    if context.world_size == 1:
        return
    with torch.no_grad():
        total = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    low, high = total.clone(), total.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if not torch.isclose(low, high, rtol=1e-9, atol=1e-9).all():
        raise RuntimeError(f"The processes' weights have diverged (sums {float(low)} .. {float(high)})")


def barrier(context: Context) -> None:
    if context.world_size > 1:
        dist.barrier()


def _group_running() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def reduce_in_place(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """``tensor`` summed (or maxed: op="max") over every process when a group runs; itself otherwise.

    For statistics computed inside a model's forward (no Context there); no gradient passes.
    """
    if _group_running():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return tensor


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Every process's rows of ``tensor``, concatenated in rank order (the same on each); no gradient passes."""
    if not _group_running():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)
