"""Latency estimate of an hls4ml project without Vitis: a token-timing model of the dataflow.

This is an ESTIMATE (docs/hls.md, "Latency estimate"); Vitis HLS's report is the reference.

Model. Data moves as tokens: with ``io_stream`` one token is one pixel (all channels), with
``io_parallel`` the whole tensor is one token. For every layer we compute the clock cycle at
which each output token leaves, from the cycles its input tokens arrived:

- a layer takes in one token every ``II`` cycles: token j is processed at
  ``p_j = max(arrival_j, p_{j-1} + II)``; ``II`` = the layer's reuse factor for convolution and
  dense layers (hls4ml pipelines the per-pixel loop with ``II = reuse_factor``), 1 otherwise;
- a 2-D convolution/pooling window (valid padding, stride s) is complete when its bottom-right
  input pixel has been processed; the output leaves ``depth`` cycles later;
- a dense layer waits for its last input token;
- ``depth`` of a multiply-accumulate layer with n products per output and reuse factor r
  (:func:`mac_depth`): input register, multiplier, an adder tree over the ``ceil(n / r)``
  products issued per cycle at two adder levels per 5 ns cycle, output register
  (``3 + ceil(ceil(log2 ceil(n/r)) / 2)``), plus ``r - 1`` cycles for the serialised products and,
  when ``r > 1``, one cycle for the accumulator they are summed into (hls4ml's Resource dense
  loop; with r = 1 this is the fully parallel tree);
- element-wise layers (activations, quantisers): with ``io_stream`` 1 cycle per token; with
  ``io_parallel`` they depend on hls4ml's top-level pipeline style: ``pipeline`` (Latency
  strategy) inlines everything into one pipeline, so they are combinational logic folded into
  the next layer's input register (0 cycles); ``dataflow`` (Resource strategy) makes every layer
  a dataflow process of its own, so they cost 1 cycle (read the ping-pong buffer, register).

The estimate is the cycle at which the last output token leaves, counting from the first input
token. The frame interval (initiation interval) is the slowest layer's ``tokens x II`` with
``io_stream`` and with a ``pipeline`` top; with an ``io_parallel`` ``dataflow`` top each process
only restarts when its call has finished, so it is the slowest process's depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CONV_CLASSES = ("Conv2D", "Conv2DBatchnorm", "PointwiseConv2D", "DepthwiseConv2D")
POOL_CLASSES = ("Pooling2D",)
DENSE_CLASSES = ("Dense", "BatchNormalization")  # BatchNormalization: 1 product per output


@dataclass
class LatencyEstimate:
    cycles: int
    interval_cycles: int
    clock_mhz: float
    per_layer: list[dict[str, Any]] = field(default_factory=list)
    pipeline_style: str = ""
    is_estimate: bool = True
    method: str = "token-timing model of the hls4ml dataflow (beamloop.hls.latency, docs/hls.md)"

    @property
    def ns(self) -> float:
        return self.cycles * 1e3 / self.clock_mhz

    @property
    def interval_ns(self) -> float:
        return self.interval_cycles * 1e3 / self.clock_mhz

    def as_dict(self) -> dict[str, Any]:
        return {"latency_cycles": self.cycles, "latency_ns": self.ns, "interval_cycles": self.interval_cycles,
                "interval_ns": self.interval_ns, "clock_mhz": self.clock_mhz, "latency_is_estimate": True,
                "pipeline_style": self.pipeline_style,
                "method": self.method, "per_layer": self.per_layer}


def mac_depth(n_products: int, reuse_factor: int = 1) -> int:
    """Pipeline depth (cycles) of one multiply-accumulate output with ``n_products`` terms.

    ``reuse_factor`` r: each multiplier is used r times, so ``ceil(n / r)`` products per output
    are summed per cycle (adder tree) and, for r > 1, accumulated over r cycles.
    """
    rf = max(int(reuse_factor), 1)
    per_cycle = math.ceil(max(n_products, 1) / rf)
    levels = math.ceil(math.log2(per_cycle)) if per_cycle > 1 else 0
    return 3 + math.ceil(levels / 2) + (rf - 1) + (1 if rf > 1 else 0)


def _process(arrival: np.ndarray, ii: int) -> np.ndarray:
    p = np.empty_like(arrival)
    last = -10**9
    for j, a in enumerate(arrival):
        last = max(int(a), last + ii)
        p[j] = last
    return p


def _windows(p: np.ndarray, h: int, w: int, kh: int, kw: int, sh: int, sw: int) -> tuple[np.ndarray, int, int]:
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    grid = p.reshape(h, w)
    rows = np.arange(oh) * sh + kh - 1
    cols = np.arange(ow) * sw + kw - 1
    return grid[np.ix_(rows, cols)].ravel(), oh, ow


def estimate(layers: list[dict[str, Any]], io_type: str, clock_mhz: float,
             pipeline_style: str | None = None) -> LatencyEstimate:
    """Estimate latency from :func:`beamloop.hls.hls4ml_project.layer_table` rows.

    ``pipeline_style``: hls4ml's top-level style (``hls_model.config.pipeline_style``,
    ``"pipeline"`` or ``"dataflow"``); default ``dataflow`` for ``io_stream``, ``pipeline``
    for ``io_parallel`` (what hls4ml picks with the Latency strategy).
    """
    stream = io_type == "io_stream"
    style = (pipeline_style or ("dataflow" if stream else "pipeline")).lower()
    if style not in ("pipeline", "dataflow"):
        raise ValueError(f"pipeline_style must be 'pipeline' or 'dataflow', got {pipeline_style!r}")
    parallel_dataflow = not stream and style == "dataflow"
    first = layers[0]
    shape = first["out_shape"]
    if stream and len(shape) == 3:
        h, w = shape[0], shape[1]
        t = np.arange(h * w, dtype=np.int64)  # one pixel per cycle from the camera
    else:
        h = w = 1
        t = np.zeros(1, dtype=np.int64)
    interval = len(t)
    rows = []
    for layer in layers[1:]:
        cls, rf = layer["class"], max(int(layer.get("reuse_factor") or 1), 1)
        n_tok = len(t)
        if cls in CONV_CLASSES and stream:
            kh, kw = layer["filt_height"], layer["filt_width"]
            n = kh * kw * (layer["n_chan"] or 1)
            p = _process(t, rf)
            t, h, w = _windows(p, h, w, kh, kw, layer["stride_height"] or 1, layer["stride_width"] or 1)
            t = _process(t + mac_depth(n, 1), 1)
            interval = max(interval, n_tok * rf)
        elif cls in POOL_CLASSES and stream:
            ph, pw = layer["pool_height"], layer["pool_width"]
            sh, sw = layer["stride_height"] or ph, layer["stride_width"] or pw
            p = _process(t, 1)
            t, h, w = _windows(p, h, w, ph, pw, sh, sw)
            t = t + 1
        elif cls in DENSE_CLASSES:
            n = int(layer.get("n_in") or 1)
            start = int(t.max())
            depth = mac_depth(n, rf)
            t = np.array([start + depth], dtype=np.int64)
            h = w = 1
            interval = max(interval, depth if parallel_dataflow else rf)
        elif cls in ("Reshape", "Transpose", "Input"):
            pass  # wiring in io_parallel; stream re-packing (flatten) costs no extra pipeline stage here
        elif stream:  # element-wise (activations, quantisers, merges): one cycle per token
            t = _process(t, 1) + 1
        elif parallel_dataflow:  # io_parallel, dataflow top: a process of its own, one register stage
            t = t + 1
        else:  # io_parallel, pipeline top: combinational, absorbed into the next layer's input register
            pass
        rows.append({"layer": layer["name"], "class": cls, "reuse_factor": rf, "tokens_in": n_tok,
                     "last_out_cycle": int(t.max())})
    return LatencyEstimate(cycles=int(t.max()) + 1, interval_cycles=int(interval), clock_mhz=clock_mhz,
                           per_layer=rows, pipeline_style=style)
