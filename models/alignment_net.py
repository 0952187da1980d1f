"""The alignment network: a small quantised CNN reading a Ronchigram pair, giving aberrations.

Input: ``(2, 32, 32)`` channels-first, the Ronchigram binned to 32 x 32 pixels at two known
defocus offsets ``C10 - delta`` (channel 0) and ``C10 + delta`` (channel 1), each normalised
to relative contrast ``I / mean - 1`` (see :mod:`beamloop.models.preprocess`); the pair resolves the sign ambiguities a
single Ronchigram has. Output: 10 numbers, ``[mu_0..mu_4, s_0..s_4]`` where ``mu_i`` is the
normalised estimate of ``(C10, C12.x, C12.y, C21.x, C21.y)[i]`` (divide by ``LABEL_SCALE``
in :mod:`beamloop.models.preprocess` to get metres) and ``s_i`` the log standard deviation of
that estimate in the same normalised units (trained with a Gaussian negative log-likelihood).

Architecture (hls4ml ``io_stream`` friendly: valid 3x3 convolutions, 2x2 max pools, <= 16
channels, one small dense head; every scale a power of two, every tensor <= 8 bits except the
final accumulator, 16-bit biases):

    QuantIdentity(s8, scale 2^-6: -2 .. 1.98)          2 x 32 x 32
    QuantConv2d 3x3 2->8   + QuantReLU + MaxPool 2    8 x 15 x 15
    QuantConv2d 3x3 8->16  + QuantReLU + MaxPool 2   16 x 6 x 6
    QuantConv2d 3x3 16->16 + QuantReLU + MaxPool 2   16 x 2 x 2
    Flatten -> QuantLinear 64->32 + QuantReLU -> QuantLinear 32->10
"""

from __future__ import annotations

import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
from torch import nn

from beamloop.models.quant import BiasQuant, ReluActQuant, WeightQuant, const_input_quant

N_OUT = 5
INPUT_SHAPE = (2, 32, 32)
INPUT_BITS = 8
INPUT_SCALE = 2.0**-6  # relative contrast: grid -2 .. 1.984 in steps of 1/64


def _conv(cin: int, cout: int) -> QuantConv2d:
    return QuantConv2d(
        cin, cout, kernel_size=3, padding=0, bias=True,
        weight_quant=WeightQuant, bias_quant=BiasQuant, return_quant_tensor=True,
    )


def _relu() -> QuantReLU:
    return QuantReLU(act_quant=ReluActQuant, return_quant_tensor=True)


class AlignmentNet(nn.Module):
    """Quantised CNN: Ronchigram pair ``(N, 2, 32, 32)`` -> ``(N, 10)`` (means, log-sigmas)."""

    def __init__(self, channels: tuple[int, int, int] = (8, 16, 16), hidden: int = 32):
        super().__init__()
        c1, c2, c3 = channels
        self.input_quant = QuantIdentity(
            act_quant=const_input_quant(INPUT_BITS, INPUT_SCALE, signed=True), return_quant_tensor=True
        )
        self.features = nn.Sequential(
            _conv(INPUT_SHAPE[0], c1), _relu(), nn.MaxPool2d(2),
            _conv(c1, c2), _relu(), nn.MaxPool2d(2),
            _conv(c2, c3), _relu(), nn.MaxPool2d(2),
        )
        side = INPUT_SHAPE[1]
        for _ in range(3):
            side = (side - 2) // 2
        self.flatten = nn.Flatten()
        self.head = nn.Sequential(
            QuantLinear(c3 * side * side, hidden, bias=True, weight_quant=WeightQuant,
                        bias_quant=BiasQuant, return_quant_tensor=True),
            _relu(),
            QuantLinear(hidden, 2 * N_OUT, bias=True, weight_quant=WeightQuant,
                        bias_quant=BiasQuant, return_quant_tensor=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_quant(x)
        x = self.features(x)
        x = self.flatten(x)
        return self.head(x)

    def to_input_grid(self, x: torch.Tensor) -> torch.Tensor:
        """Put raw (relative-contrast) inputs on the input quantiser's grid (FLOOR, clamp -2..1.98)."""
        with torch.no_grad():
            return self.input_quant(x).value


def split_output(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Network output ``(N, 10)`` -> ``(mean, log_sigma)``, each ``(N, 5)``, normalised units."""
    return y[..., :N_OUT], y[..., N_OUT:]
