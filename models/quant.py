"""Quantisers shared by beamloop's networks: power-of-two scales, <= 8 bits, FLOOR activations.

Why these choices (see docs/models.md, "Quantisation"):
- Power-of-two (fixed-point) scales everywhere, so hls4ml/da4ml implement every rescale as a
  shift and the FPGA result equals the PyTorch result bit for bit.
- Activations round with FLOOR (truncation). Brevitas' default rounds half to even, da4ml
  truncates; with FLOOR Brevitas, QONNX execution, hls4ml and da4ml agree. The exported QONNX
  ``Quant`` nodes carry ``rounding_mode="FLOOR"`` (uppercase, as hls4ml requires).
- Weights are constants, exported already on their grid, so their rounding mode does not
  matter for bit-exactness; they keep round-to-nearest for accuracy.
- Biases are quantised at the accumulator scale (input scale x weight scale, itself a power
  of two) with 16 bits (``Int16Bias``): the accumulator is wider than 8 bits anyway.
- Input quantisers have a *constant* scale (not learnt), so the grid the FPGA is fed is a
  property of the model definition, recorded in the model card.
"""

from __future__ import annotations

from brevitas.core.function_wrapper.ops_ste import CeilSte
from brevitas.inject.enum import FloatToIntImplType, RestrictValueType, ScalingImplType
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
    Int16Bias,
    Uint8ActPerTensorFixedPoint,
)

__all__ = [
    "WeightQuant",
    "BiasQuant",
    "ReluActQuant",
    "SignedActQuant",
    "const_input_quant",
    "WEIGHT_BITS",
    "ACT_BITS",
]

WEIGHT_BITS = 8
ACT_BITS = 8


class WeightQuant(Int8WeightPerTensorFixedPoint):
    """8-bit narrow signed weights, per-tensor power-of-two scale from the max |w|."""


BiasQuant = Int16Bias
"""16-bit bias at the accumulator's (power-of-two) scale."""


class ReluActQuant(Uint8ActPerTensorFixedPoint):
    """8-bit unsigned activation after ReLU, learnt power-of-two scale, FLOOR rounding."""

    float_to_int_impl_type = FloatToIntImplType.FLOOR


class SignedActQuant(Int8ActPerTensorFixedPoint):
    """8-bit signed activation (network outputs), learnt power-of-two scale, FLOOR rounding."""

    float_to_int_impl_type = FloatToIntImplType.FLOOR


def const_input_quant(bit_width: int, scale: float, signed: bool):
    """A Brevitas activation quantiser with a *fixed* power-of-two ``scale`` and FLOOR rounding.

    The representable values are ``scale * k`` for integer k in
    ``[-2**(bit_width-1), 2**(bit_width-1)-1]`` (signed) or ``[0, 2**bit_width - 1]``.
    Brevitas parametrises a fixed-point quantiser by its threshold (``scale`` times
    ``2**(bit_width-1)`` if signed, ``2**bit_width`` if unsigned), which is what we set here.
    """
    import math

    if bit_width < 2 or bit_width > 16:
        raise ValueError(f"bit_width must be in 2..16, got {bit_width}")
    if scale <= 0 or abs(math.log2(scale) - round(math.log2(scale))) > 1e-12:
        raise ValueError(f"scale must be a positive power of two, got {scale}")
    base = Int8ActPerTensorFixedPoint if signed else Uint8ActPerTensorFixedPoint
    threshold = scale * (2 ** (bit_width - 1) if signed else 2**bit_width)
    return base.let(
        bit_width=bit_width,
        scaling_impl_type=ScalingImplType.CONST,
        scaling_init=threshold,
        restrict_scaling_type=RestrictValueType.POWER_OF_TWO,
        restrict_value_float_to_int_impl=CeilSte,
        float_to_int_impl_type=FloatToIntImplType.FLOOR,
    )
