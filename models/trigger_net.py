"""The trigger network: a tiny quantised MLP on the 32-value per-frame feature vector.

Input (docs/trigger_features.md): ``x[0..15] = a[k]`` (unsigned 0..255, region sums of the
current frame, shifted) and ``x[16..31] = d[k]`` (signed -128..127, change since the previous
frame). The input quantiser is a 9-bit signed integer grid with scale 1 (-256..255), which
holds both kinds unchanged; in RTL ``a[k]`` bytes are zero-extended and ``d[k]`` bytes
sign-extended to 9 bits (``trigger_net`` port ``in_data[32*8-1:0]``, input 0 in the least
significant byte). Output: one score (logit); the trigger fires when ``score > THRESHOLD``.

    QuantIdentity(s9, scale 1) -> QuantLinear 32->16 + QuantReLU -> QuantLinear 16->8 + QuantReLU
    -> QuantLinear 8->1
"""

from __future__ import annotations

import torch
from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
from torch import nn

from beamloop.models.quant import BiasQuant, ReluActQuant, WeightQuant, const_input_quant

N_FEATURES = 32
INPUT_SHAPE = (N_FEATURES,)
INPUT_BITS = 9
INPUT_SCALE = 1.0


class TriggerNet(nn.Module):
    """Quantised MLP ``(N, 32)`` integer features -> ``(N, 1)`` score."""

    def __init__(self, hidden: tuple[int, ...] = (16, 8)):
        super().__init__()
        self.input_quant = QuantIdentity(
            act_quant=const_input_quant(INPUT_BITS, INPUT_SCALE, signed=True), return_quant_tensor=True
        )
        layers: list[nn.Module] = []
        width = N_FEATURES
        for h in hidden:
            layers += [
                QuantLinear(width, h, bias=True, weight_quant=WeightQuant, bias_quant=BiasQuant,
                            return_quant_tensor=True),
                QuantReLU(act_quant=ReluActQuant, return_quant_tensor=True),
            ]
            width = h
        layers.append(QuantLinear(width, 1, bias=True, weight_quant=WeightQuant, bias_quant=BiasQuant,
                                  return_quant_tensor=False))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.input_quant(x))

    def to_input_grid(self, x: torch.Tensor) -> torch.Tensor:
        """Put raw features on the input grid (FLOOR to integers, clamp to -256..255)."""
        with torch.no_grad():
            return self.input_quant(x).value
