"""Small Brevitas networks for the FPGA-flow tests (independent of the committed models).

- ``small_mlp``: 32 -> 16 -> 1, 9-bit signed integer input (like the trigger net), FLOOR ReLU;
- ``small_cnn``: 2 x 32 x 32 -> two 3x3 conv + pool stages -> dense 3, u8 input, scale 2^-5;
- ``npot_mlp``: like ``small_mlp`` but with float (non power-of-two) weight scales;
- ``abs_mlp``: has an ``Abs`` operator that neither hls4ml nor the da4ml converter maps.
Quantiser statistics are set by a few forward passes in train mode on a fixed seed.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from brevitas.core.function_wrapper.ops_ste import CeilSte
from brevitas.inject.enum import FloatToIntImplType, RestrictValueType, ScalingImplType
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerTensorFloat,
    Int16Bias,
    Uint8ActPerTensorFixedPoint,
)
from torch import nn

from beamloop.hls.hls4ml_project import HlsSettings


class ReluQ(Uint8ActPerTensorFixedPoint):
    float_to_int_impl_type = FloatToIntImplType.FLOOR


def const_input(bits: int, scale: float, signed: bool):
    base = Int8ActPerTensorFixedPoint if signed else Uint8ActPerTensorFixedPoint
    return base.let(bit_width=bits, scaling_impl_type=ScalingImplType.CONST,
                    scaling_init=scale * (2 ** (bits - 1) if signed else 2**bits),
                    restrict_scaling_type=RestrictValueType.POWER_OF_TWO, restrict_value_float_to_int_impl=CeilSte,
                    float_to_int_impl_type=FloatToIntImplType.FLOOR)


class SmallMLP(nn.Module):
    def __init__(self, weight_quant=Int8WeightPerTensorFixedPoint, extra_abs: bool = False):
        super().__init__()
        self.inp = QuantIdentity(act_quant=const_input(9, 1.0, True), return_quant_tensor=True)
        self.fc1 = QuantLinear(32, 16, bias=True, weight_quant=weight_quant, bias_quant=Int16Bias,
                               return_quant_tensor=True)
        self.r1 = QuantReLU(act_quant=ReluQ, return_quant_tensor=True)
        self.fc2 = QuantLinear(16, 1, bias=True, weight_quant=weight_quant, bias_quant=Int16Bias,
                               return_quant_tensor=False)
        self.extra_abs = extra_abs

    def forward(self, x):
        y = self.fc2(self.r1(self.fc1(self.inp(x))))
        return torch.abs(y) if self.extra_abs else y


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = QuantIdentity(act_quant=const_input(8, 2.0**-5, False), return_quant_tensor=True)
        conv = dict(kernel_size=3, bias=True, weight_quant=Int8WeightPerTensorFixedPoint, bias_quant=Int16Bias,
                    return_quant_tensor=True)
        self.body = nn.Sequential(
            QuantConv2d(2, 4, **conv), QuantReLU(act_quant=ReluQ, return_quant_tensor=True), nn.MaxPool2d(2),
            QuantConv2d(4, 4, **conv), QuantReLU(act_quant=ReluQ, return_quant_tensor=True), nn.MaxPool2d(2),
        )
        self.flat = nn.Flatten()
        self.fc = QuantLinear(4 * 6 * 6, 3, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                              bias_quant=Int16Bias, return_quant_tensor=False)

    def forward(self, x):
        return self.fc(self.flat(self.body(self.inp(x))))


def _calibrated(module: nn.Module, shape, lo: float, hi: float) -> nn.Module:
    torch.manual_seed(0)
    module.train()
    with torch.no_grad():
        for _ in range(4):
            module(lo + (hi - lo) * torch.rand(64, *shape))
    return module.eval()


def as_net(module: nn.Module, shape) -> types.SimpleNamespace:
    """The registry's interface (``.module``, ``.input_shape``) without realistic samples."""
    return types.SimpleNamespace(module=module, input_shape=tuple(shape))


@pytest.fixture(scope="session")
def small_mlp():
    return as_net(_calibrated(SmallMLP(), (32,), -128, 255), (32,))


@pytest.fixture(scope="session")
def small_cnn():
    return as_net(_calibrated(SmallCNN(), (2, 32, 32), 0, 4), (2, 32, 32))


@pytest.fixture(scope="session")
def npot_mlp():
    return as_net(_calibrated(SmallMLP(weight_quant=Int8WeightPerTensorFloat), (32,), -128, 255), (32,))


@pytest.fixture(scope="session")
def abs_mlp():
    return as_net(_calibrated(SmallMLP(extra_abs=True), (32,), -128, 255), (32,))


class RoundMLP(nn.Module):
    """ReLU quantiser with Brevitas' default ROUND (half to even): da4ml cannot match it."""

    def __init__(self):
        super().__init__()
        self.inp = QuantIdentity(act_quant=const_input(9, 1.0, True), return_quant_tensor=True)
        self.fc = QuantLinear(32, 4, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                              bias_quant=Int16Bias, return_quant_tensor=True)
        self.r = QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=False)

    def forward(self, x):
        return self.r(self.fc(self.inp(x)))


@pytest.fixture(scope="session")
def round_mlp():
    return as_net(_calibrated(RoundMLP(), (32,), -128, 255), (32,))


@pytest.fixture(scope="session")
def hls_settings():
    """``hls_settings(model, io_type, da4ml=False, **overrides)`` -> HlsSettings from the reviewed YAMLs."""
    return settings_for


def settings_for(model: str, io_type: str, da4ml: bool = False, **kw) -> HlsSettings:
    """The trigger YAML (Latency strategy, part, clock, precision) with ``io_type`` and ``kw`` set.

    Both committed networks are MLPs now (``io_parallel``), so the ``io_stream`` settings of the
    small CNN are the trigger's with the io type changed.
    """
    base = HlsSettings.load("trigger")
    base.model = model
    base.project_name = f"{model}_test"
    base.io_type = io_type
    base.layer_reuse_factor = kw.pop("layer_reuse_factor", {})
    base.da4ml = dict(base.da4ml) if da4ml else {}
    for k, v in kw.items():
        setattr(base, k, v)
    return base


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
