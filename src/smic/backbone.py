"""VGG16 feature extractor with torchvision's parameter names, max- or L2-pooled, five stages out.

``VGG16(pooling="max")`` is the network of LPIPS; ``VGG16(pooling="l2")`` replaces every max-pool
by the L2 pooling of DISTS (Ding et al. 2020): sqrt(hann3x3 * x^2 + 1e-12), stride 2, padding 1,
the network DISTS, DeepWSD and the SMIC attention use. Stages end at relu1_2, relu2_2, relu3_3,
relu4_3 and relu5_3. The weights are frozen and the module stays in eval mode.

The convolutions run in channels-last memory by default: oneDNN's fast path on the CPU (about
20% less time for a 512x384 pair on 2 cores) and cuDNN's native layout on CUDA (NCHW costs a
transpose around every convolution). Its float32 rounding differs from the NCHW layout in the
last bits, and such a change can reorder two nearly tied values inside a MIC, so the authors'
variant and ``smic.attention_map`` ask for ``channels_last=False``: the layout, and the
rounding, of the authors' code, whose attention maps they reproduce cell by cell.

On CUDA, without autograd, each convolution and its ReLU run as one cuDNN call, bias and ReLU in
the convolution's epilogue: stock PyTorch adds the bias and applies the ReLU in two more passes
over every feature map, about a fifth of the VGG16 pass's time on an H200, and the outputs are
the same bits.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Hashable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from smic.kernels.cuda_launch import device_index
from smic.pooling import Stages
from smic.sharing import active, memo, recall, version
from smic.weights import vgg16_state_dict

Pooling = Literal["max", "l2"]

# torchvision's VGG16 configuration "D": channels per conv, "M" where a pool sits.
_CONFIG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# index in ``features`` of the ReLU that ends each stage
STAGE_ENDS = (3, 8, 15, 22, 29)
# channels of each stage, by the paper's stage number (1: relu1_2 ... 5: relu5_3)
STAGE_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


class L2Pool2d(nn.Module):
    """L2 pooling: sqrt(conv(x^2, hann 3x3 normalised) + 1e-12), stride 2, padding 1, per channel."""

    kernel: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        window = torch.tensor([0.5, 1.0, 0.5])
        kernel = window[:, None] * window[None, :]
        kernel = kernel / kernel.sum()
        # not persistent: the state dict keeps torchvision's keys only
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x**2, self.kernel, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


def _layers(pooling: Pooling) -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for item in _CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else L2Pool2d(channels))
        else:
            assert isinstance(item, int)
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return layers


class VGG16(nn.Module):
    """Frozen VGG16 ``features`` (13 convs); ``forward`` returns the five stage outputs."""

    def __init__(
        self, pooling: Pooling = "l2", weights: str | os.PathLike | None = None, channels_last: bool = True
    ) -> None:
        super().__init__()
        if pooling not in ("max", "l2"):
            raise ValueError(f"pooling must be 'max' or 'l2', got {pooling!r}")
        self.pooling = pooling
        self.channels_last = channels_last  # on the CPU and CUDA (see the module docstring)
        self.features = nn.Sequential(*_layers(pooling))
        self.weights_source = str(weights) if weights else None
        self.features.load_state_dict(_cached_state(self.weights_source))
        self.requires_grad_(False)
        self.eval()
        # the weights as loaded (the objects and their versions): while they stay so, two networks
        # of the same source, pooling and layout compute the same features (see ``forward``)
        self._loaded = tuple((t, version(t)) for t in self._weights())

    def train(self, mode: bool = True) -> VGG16:
        return super().train(False)  # no dropout or batch-norm: eval mode always

    def _weights(self) -> list[torch.Tensor]:
        return [*self.parameters(), *self.buffers()]

    def forward(self, x: torch.Tensor, stages: int = 5) -> Stages:
        """Stage outputs {1: relu1_2, ..., stages: relu{stages}_x} for input x (N, 3, H, W); no
        normalisation.

        Inside ``smic.sharing.shared_work()`` one pass per input serves every network of the same
        pooling, layout and weights (relu1_2, before any pooling, serves both poolings): a call for
        fewer stages takes them from a longer pass, a call for more resumes a shorter one (the same
        layers on the same tensors: the same bits).
        """
        if not active():
            return self._stages(x, stages)
        weights = self._weights()
        if torch.is_grad_enabled() and any(t.requires_grad for t in weights):
            return self._stages(x, stages)
        pristine = len(weights) == len(self._loaded) and all(
            t is loaded and version(t) == loaded_version for t, (loaded, loaded_version) in zip(weights, self._loaded)
        )
        # weights as loaded are named by their source; changed ones by the tensors themselves
        source: Hashable = self.weights_source if pristine else "changed"
        inputs = (x,) if pristine else (x, *weights)
        network = (self.channels_last, source, weights[0].dtype, weights[0].device)
        for done in range(5, stages - 1, -1):
            longer = recall("vgg16", (self.pooling, *network, done), inputs)
            if longer is not None:
                return {stage: longer[stage] for stage in range(1, stages + 1)}
        shorter = None
        for done in range(stages - 1, 0, -1):
            shorter = recall("vgg16", (self.pooling, *network, done), inputs)
            if shorter is not None:
                break
        if shorter is None:  # relu1_2 comes before the first pooling: one pass of it for both poolings
            shorter = memo("vgg16", (None, *network, 1), inputs, lambda: self._stages(x, 1))
        if stages == 1:
            return dict(shorter)
        return dict(memo("vgg16", (self.pooling, *network, stages), inputs, lambda: self._stages(x, stages, shorter)))

    def _stages(self, x: torch.Tensor, stages: int, start: Stages | None = None) -> Stages:
        """The pass up to ``stages``, resumed from the first stages ``start`` when given."""
        outputs: Stages = dict(start or {})
        if outputs:
            x = outputs[len(outputs)]
        elif x.device.type in ("cpu", "cuda"):  # NCHW asked for is NCHW whatever the input's layout
            x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        first = STAGE_ENDS[len(outputs) - 1] + 1 if outputs else 0
        fuse = _fused_conv_relu_usable(x)
        for index, layer in enumerate(list(self.features)[first : STAGE_ENDS[stages - 1] + 1], first):
            if not fuse:
                x = layer(x)
            elif isinstance(layer, nn.Conv2d):  # with the ReLU that follows every conv
                assert isinstance(layer.padding, tuple)  # an int padding, not "same"/"valid"
                x = torch.cudnn_convolution_relu(
                    x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups
                )
            elif not isinstance(layer, nn.ReLU):
                x = layer(x)
            if index in STAGE_ENDS:
                outputs[len(outputs) + 1] = x
        return outputs


def _fused_conv_relu_usable(x: torch.Tensor) -> bool:
    """cuDNN's fused convolution + bias + ReLU: on CUDA, without autograd (it has no backward)."""
    if not x.is_cuda or (torch.is_grad_enabled() and x.requires_grad):
        return False
    return torch.backends.cudnn.enabled and _fused_conv_relu_works(device_index(x.device), x.dtype)


@functools.cache
def _fused_conv_relu_works(device_index: int, dtype: torch.dtype) -> bool:
    """Whether cuDNN has an engine for the fused graph here and it matches conv + ReLU (checked once)."""
    device = torch.device("cuda", device_index)
    generator = torch.Generator(device).manual_seed(0)
    x = torch.randn(1, 8, 16, 16, device=device, dtype=dtype, generator=generator)
    weight = torch.randn(8, 8, 3, 3, device=device, dtype=dtype, generator=generator)
    bias = torch.randn(8, device=device, dtype=dtype, generator=generator)
    with torch.no_grad():
        plain = F.conv2d(x, weight, bias, padding=1).relu()
        try:
            fused = torch.cudnn_convolution_relu(x, weight, bias, (1, 1), (1, 1), (1, 1), 1)
        except RuntimeError:
            return False
    return bool(torch.allclose(fused, plain, rtol=1e-2, atol=1e-2))


@functools.lru_cache(maxsize=4)
def _cached_state(path: str | None) -> dict[str, torch.Tensor]:
    """Read (and hash-check) the weights once per process; ``load_state_dict`` copies them."""
    state = vgg16_state_dict(path)
    return {key[len("features.") :]: value for key, value in state.items()}


@functools.lru_cache(maxsize=8)
def shared_vgg16(
    pooling: Pooling, device: str = "cpu", dtype: torch.dtype = torch.float32, channels_last: bool = True
) -> VGG16:
    """One frozen VGG16 per (pooling, device, dtype, layout) for the functional forms."""
    return VGG16(pooling, channels_last=channels_last).to(device=device, dtype=dtype)


def backbone_for(metric: str, pooling: Pooling, backbone: VGG16 | None, like: torch.Tensor) -> VGG16:
    """``backbone``, checked to be ``pooling``-pooled, or the shared one for ``like``'s device and
    dtype: what every functional form that runs VGG16 starts with."""
    if backbone is None:
        return shared_vgg16(pooling, str(like.device), like.dtype)
    if backbone.pooling != pooling:
        kind = "max" if pooling == "max" else "L2"
        raise ValueError(f"{metric} needs the {kind}-pooled VGG16 (VGG16(pooling={pooling!r}))")
    return backbone
