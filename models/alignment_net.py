"""The alignment network: a small quantised MLP reading local-magnification features of a
Ronchigram pair, giving aberrations and their uncertainty.

Input: ``(N_FEATURES,)`` = 216 numbers, the structure-tensor features of two Ronchigrams taken at
``C10 - delta`` and ``C10 + delta`` (:mod:`beamloop.models.ronchigram_features`), standardised
with the training set's mean and standard deviation (stored in the model's metadata; see
:mod:`beamloop.models.preprocess`). The pair resolves the sign ambiguities one Ronchigram has.
Output: 10 numbers, ``[mu_0..mu_4, s_0..s_4]``: ``mu_i`` is the normalised estimate of
``(C10, C12.x, C12.y, C21.x, C21.y)[i]`` (times ``label_scale_m`` in the metadata = metres) and
``s_i`` the log standard deviation of that estimate in the same units (Gaussian negative
log-likelihood training).

Why features and not pixels: the Ronchigram encodes the aberrations in the *scale* of its
speckle (the local magnification), which a small CNN on a downsampled image cannot see over
the whole capture range (measured in docs/models.md: the 2 x 32 x 32 CNN of version 1 had no
skill beyond the label spread); the structure tensor measures that scale directly and is cheap
(sums of products of neighbouring-pixel differences, streamable on an FPGA).

Architecture (every scale a power of two, <= 8-bit weights and activations, 16-bit biases)::

    QuantIdentity(s8, scale 2^-5: -4 .. 3.97 standard deviations)     216
    QuantLinear 216->128 + QuantReLU
    QuantLinear 128->64 + QuantReLU
    QuantLinear 64->10
"""

from __future__ import annotations

import torch
from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
from torch import nn

from beamloop.models.quant import BiasQuant, ReluActQuant, WeightQuant, const_input_quant

N_OUT = 5
N_FEATURES = 216
INPUT_SHAPE = (N_FEATURES,)
INPUT_BITS = 8
INPUT_SCALE = 2.0**-5  # standardised features: grid -4 .. 3.97 in steps of 1/32


def _linear(cin: int, cout: int, last: bool = False) -> QuantLinear:
    return QuantLinear(cin, cout, bias=True, weight_quant=WeightQuant, bias_quant=BiasQuant,
                       return_quant_tensor=not last)


def _relu() -> QuantReLU:
    return QuantReLU(act_quant=ReluActQuant, return_quant_tensor=True)


class AlignmentNet(nn.Module):
    """Quantised MLP: standardised features ``(N, 216)`` -> ``(N, 10)`` (means, log-sigmas)."""

    def __init__(self, hidden: tuple[int, ...] = (128, 64), n_features: int = N_FEATURES):
        super().__init__()
        self.n_features = n_features
        self.input_quant = QuantIdentity(
            act_quant=const_input_quant(INPUT_BITS, INPUT_SCALE, signed=True), return_quant_tensor=True
        )
        layers: list[nn.Module] = []
        cin = n_features
        for h in hidden:
            layers += [_linear(cin, h), _relu()]
            cin = h
        layers.append(_linear(cin, 2 * N_OUT, last=True))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.input_quant(x))

    def to_input_grid(self, x: torch.Tensor) -> torch.Tensor:
        """Put standardised inputs on the input quantiser's grid (FLOOR, clamp -4 .. 3.97)."""
        with torch.no_grad():
            return self.input_quant(x).value


def split_output(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Network output ``(N, 10)`` -> ``(mean, log_sigma)``, each ``(N, 5)``, normalised units."""
    return y[..., :N_OUT], y[..., N_OUT:]
