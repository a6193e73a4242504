"""Work shared by the metrics scored on one batch: each step computed once, whoever asks first.

Inside ``with shared_work():`` a step wrapped in :func:`memo` (the authors' resize, a [ref; dist]
batch and its normalisation, a VGG16 pass, an attention) returns the result of the first call
with the same kind, parameters and input tensors; outside, it just computes. A tensor is "the
same" when it is the same memory in the same state: data pointer, shape, strides, dtype, device
and version counter (bumped by every in-place change). The memo holds its inputs, so no freed
buffer can come back at the same address while it lives, and the results, so every consumer gets
the very tensors the first one got: bit-identical to computing alone, and never to be modified
in place. It never serves a call that autograd records (an input requiring grad), and it ends
with the context.

Limits: an inference tensor (made under ``torch.inference_mode``) has no version counter, so an
in-place change to one inside the context goes unseen; so does a change through ``.data``. The
memo keeps every intermediate of the batch (VGG16 features included) until the context ends.

:func:`score_many` is the entry for callers: k metrics on one batch, sharing their work.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import torch
from torch import Tensor

__all__ = ["active", "held_bytes", "memo", "recall", "score_many", "shared_work", "version"]

T = TypeVar("T")
# (kind, params, input identities) -> (the inputs, held alive; the result)
_Memo = dict[tuple[Hashable, ...], tuple[tuple[Tensor, ...], Any]]
_CURRENT: ContextVar[_Memo | None] = ContextVar("smic_shared_work", default=None)


@contextmanager
def shared_work() -> Iterator[None]:
    """Share every memoised step computed inside; a nested context shares the outer one's memo."""
    if _CURRENT.get() is not None:
        yield
        return
    token = _CURRENT.set({})
    try:
        yield
    finally:
        _CURRENT.reset(token)


def active() -> bool:
    """Whether a ``shared_work()`` context is open here."""
    return _CURRENT.get() is not None


def version(tensor: Tensor) -> int | None:
    """The tensor's version counter (bumped by every in-place change); None for an inference tensor."""
    return None if tensor.is_inference() else tensor._version


def _identity(tensor: Tensor) -> tuple[Hashable, ...]:
    return (
        tensor.data_ptr(),
        tuple(tensor.shape),
        tensor.stride(),
        tensor.dtype,
        tensor.device,
        tensor.is_conj(),
        tensor.is_neg(),
        version(tensor),
    )


def _key(kind: str, params: Hashable, inputs: Sequence[Tensor]) -> tuple[Hashable, ...] | None:
    """The memo's key, or None where the step must not be shared (no context, autograd, no strided memory)."""
    if _CURRENT.get() is None:
        return None
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        return None  # a shared result would join separate graphs
    if any(t.layout != torch.strided for t in inputs):
        return None  # no data pointer to name it by
    return (kind, params, *(_identity(t) for t in inputs))


def recall(kind: str, params: Hashable, inputs: Sequence[Tensor]) -> Any | None:
    """The result memoised for this step, or None (none yet, or no sharing here)."""
    key = _key(kind, params, inputs)
    memo_ = _CURRENT.get()
    if key is None or memo_ is None or key not in memo_:
        return None
    return memo_[key][1]


def memo(kind: str, params: Hashable, inputs: Sequence[Tensor], compute: Callable[[], T]) -> T:
    """``compute()``, or inside ``shared_work()`` the result of the first call with the same
    ``kind``, ``params`` (hashable: everything but the tensors that the result depends on) and
    ``inputs`` (the tensors, by identity and version)."""
    key = _key(kind, params, inputs)
    memo_ = _CURRENT.get()
    if key is None or memo_ is None:
        return compute()
    if key not in memo_:
        memo_[key] = (tuple(inputs), compute())
    return memo_[key][1]


def held_bytes() -> int:
    """Bytes of the distinct tensor memory the open memo holds (inputs and results); 0 outside one:
    what sharing keeps alive until the context ends."""
    memo_ = _CURRENT.get()
    storages: dict[tuple[torch.device, int], int] = {}

    def visit(value: object) -> None:
        if isinstance(value, Tensor):
            if value.layout == torch.strided:
                storage = value.untyped_storage()
                storages[(value.device, storage.data_ptr())] = storage.nbytes()
        elif isinstance(value, dict):
            visit(list(value.values()))
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif hasattr(value, "__dict__"):  # a result object such as an Attention
            visit(vars(value))

    visit(list((memo_ or {}).values()))
    return sum(storages.values())


def score_many(metrics: Sequence[Callable[[Tensor, Tensor], Tensor]], ref: Tensor, dist: Tensor) -> list[Tensor]:
    """The scores of each metric on one batch (``metric(ref, dist)``, in order), their common
    work done once: equal to scoring each alone, bit for bit."""
    with shared_work():
        return [metric(ref, dist) for metric in metrics]
