"""Trigger MLP -> synthesizable, pipelined Verilog through da4ml (distributed arithmetic).

da4ml has no QONNX importer; :func:`trace_qonnx` walks the cleaned QONNX graph (``Quant``,
``MatMul``, ``Add``, ``Relu``, ``Flatten``/``Reshape``) and replays it on da4ml's symbolic
fixed-point arrays. Constant ``Quant`` nodes (weights, biases) are evaluated with qonnx's own
quantiser; activation ``Quant`` nodes become ``quantize(k, i, f, SAT|SAT_SYM, TRN)``. da4ml then
optimises the constant matrix-vector products into adder graphs (no multipliers, no DSPs) and
emits a pipelined Verilog module.

:func:`write_trigger_rtl` adds ``trigger_net`` (the port contract of ``firmware/``): 32 bytes in,
one signed score out, ``in_valid``/``out_valid`` delayed by the pipeline's ``LATENCY`` cycles.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from beamloop.hls.errors import QuantizerConfigError, UnsupportedLayerError
from beamloop.hls.qonnx_flow import QuantSpec, quant_specs

SUPPORTED_OPS = ("Quant", "MatMul", "Add", "Relu", "Flatten", "Reshape")


def _const_quant(model, node) -> np.ndarray:
    from onnx import helper
    from qonnx.custom_op.general.quant import quant

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    rmode = attrs.get("rounding_mode", "ROUND")
    rmode = rmode.decode() if isinstance(rmode, bytes) else rmode
    vals = [model.get_initializer(i) for i in node.input]
    return np.asarray(quant(vals[0], vals[1], vals[2], vals[3], signed=int(attrs.get("signed", 1)),
                            narrow=int(attrs.get("narrow", 0)), rounding_mode=rmode), dtype=np.float64)


def _kif(q: QuantSpec) -> tuple[int, int, int]:
    f = q.frac_bits
    k = int(q.signed)
    return k, q.bitwidth - k - f, f


def trace_qonnx(model, input_kif: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None):
    """Replay a cleaned QONNX MLP graph on da4ml variables; returns ``(inp, out)`` arrays.

    ``input_kif`` (sign bit, integer bits, fraction bits per input) narrows the inputs to what
    the hardware port can deliver (e.g. bytes); the network's input quantiser still applies on
    top, so results are unchanged for every input the port can express, with narrower adders.

    Raises :class:`UnsupportedLayerError` for operators outside :data:`SUPPORTED_OPS` and
    :class:`QuantizerConfigError` for activation quantisers that round to nearest (da4ml
    rounds half up, Brevitas half to even: only FLOOR agrees bit for bit).
    """
    from da4ml.trace import FixedVariableArrayInput

    bad = [f"{n.name} ({n.op_type})" for n in model.graph.node if n.op_type not in SUPPORTED_OPS]
    if bad:
        raise UnsupportedLayerError(
            f"the da4ml converter maps only {', '.join(SUPPORTED_OPS)}; the trigger network also has "
            f"{', '.join(bad)}. Keep the trigger net a QuantLinear/QuantReLU MLP (docs/hls.md)."
        )
    specs = {q.node: q for q in quant_specs(model)}
    iname = model.graph.input[0].name
    ishape = [d if d > 0 else 1 for d in model.get_tensor_shape(iname)]
    inp = FixedVariableArrayInput(tuple(ishape))
    env: dict[str, Any] = {iname: inp}
    if input_kif is not None:
        k, i, f = (np.broadcast_to(np.asarray(a), tuple(ishape)) for a in input_kif)
        env[iname] = inp.quantize(k=k, i=i, f=f)
    for node in model.graph.node:
        op = node.op_type
        if op == "Quant":
            q = specs[node.name]
            if q.on_constant:
                env[node.output[0]] = _const_quant(model, node)
                continue
            if q.rounding_mode != "FLOOR" and node.input[0] != iname:
                raise QuantizerConfigError(
                    f"activation quantiser {node.name} rounds with {q.rounding_mode}; Brevitas rounds half to "
                    "even, da4ml half up, so they disagree on ties. Use FLOOR "
                    "(float_to_int_impl_type=FloatToIntImplType.FLOOR, as beamloop.models.quant.ReluActQuant)."
                )
            k, i, f = _kif(q)
            mode = "SAT_SYM" if (q.narrow and q.signed) else "SAT"
            if node.input[0] == iname:
                mode = "WRAP"  # the input quantiser defines the port width: every port word is on the grid
            if q.narrow and not q.signed:
                raise QuantizerConfigError(f"{node.name}: narrow unsigned quantisers are not supported; use narrow=False")
            env[node.output[0]] = env[node.input[0]].quantize(k=k, i=i, f=f, overflow_mode=mode, round_mode="TRN")
        elif op == "MatMul":
            a, b = (env.get(n, model.get_initializer(n)) for n in node.input)
            env[node.output[0]] = a @ b
        elif op == "Add":
            a, b = (env.get(n, model.get_initializer(n)) for n in node.input)
            env[node.output[0]] = a + b
        elif op == "Relu":
            env[node.output[0]] = env[node.input[0]].relu()
        elif op in ("Flatten", "Reshape"):
            x = env[node.input[0]]
            env[node.output[0]] = x.reshape(x.shape[0], -1)
    out = env[model.graph.output[0].name]
    return inp, out


def byte_port_kif(n_in: int, in_bits: int, signed_inputs: tuple[int, int]):
    """(k, i, f) per input for a port of ``in_bits``-bit words, two's complement in ``signed_inputs``."""
    signed = np.zeros(n_in, dtype=bool)
    signed[signed_inputs[0]:signed_inputs[1] + 1] = True
    return signed.astype(np.int8), np.where(signed, in_bits - 1, in_bits), np.zeros(n_in, dtype=np.int8)


def trace_to_comb(model, input_kif=None):
    """Cleaned QONNX graph -> da4ml ``CombLogic`` (the combinational dataflow before pipelining)."""
    from da4ml.trace import comb_trace

    inp, out = trace_qonnx(model, input_kif)
    return comb_trace(inp, out)


def predict(comb, x: np.ndarray) -> np.ndarray:
    """Run da4ml's C++ interpreter of ``comb`` on ``x`` (N, n_in) -> (N, n_out). No Verilator needed."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return np.asarray(comb.predict(x)).reshape(len(x), -1)


@dataclass
class TriggerRtl:
    """What :func:`write_trigger_rtl` produced."""

    module: str                 # wrapper module (trigger_net)
    core_module: str            # da4ml's pipelined module
    wrapper: Path               # firmware/rtl/trigger_net.v
    sources: list[Path]         # every Verilog file needed, wrapper first
    memfile_dir: Path
    latency: int                # cycles from in_valid to out_valid
    out_width: int
    out_frac: int               # score = signed(out_data) * 2**-out_frac
    in_width: int               # bits per input of the da4ml core
    in_frac: int
    luts_estimate: float
    ffs_estimate: int
    meta: dict[str, Any] = field(default_factory=dict)


def _io_kif(comb_or_pipe):
    from da4ml.codegen.rtl.rtl_model import get_io_kifs

    (k_in, i_in, f_in), (k_out, i_out, f_out) = get_io_kifs(comb_or_pipe)
    return (int(max(k_in)), int(max(i_in)), int(max(f_in))), (int(max(k_out)), int(max(i_out)), int(max(f_out)))


WRAPPER_TEMPLATE = """// GENERATED by `beamloop compile trigger` (beamloop.hls.da4ml_flow) - do not edit.
// The trigger MLP as distributed-arithmetic RTL (da4ml {da4ml_version}), pipelined, no DSPs.
// Core: {core}.v and da4ml's helpers in generated/ next to this file (yosys: read_verilog -sv -defer).
// Input k is in_data[8*k+7:8*k]; inputs {signed_lo}..{signed_hi} are two's complement bytes
// (sign-extended), the others unsigned (zero-extended) - docs/trigger_features.md.
// score = $signed(out_data) * 2**-OUT_FRAC; out_valid/out_data follow in_valid/in_data by
// LATENCY clock cycles (one vector per cycle, no stalls).
`timescale 1ns / 1ps
`default_nettype none
module {module} #(
    parameter integer OUT_W = {out_w},     // fixed by the network: do not override
    /* verilator lint_off UNUSEDPARAM */
    parameter integer OUT_FRAC = {out_frac},  // fraction bits of out_data (documentation for users)
    /* verilator lint_on UNUSEDPARAM */
    parameter integer LATENCY = {latency}    // pipeline depth in cycles
) (
    input  wire                    clk,
    input  wire                    in_valid,
    input  wire [{n_in}*{in_bits}-1:0]         in_data,
    output wire                    out_valid,
    output wire signed [OUT_W-1:0] out_data
);
    localparam integer N_IN = {n_in};
    localparam integer IN_BITS = {in_bits};
    localparam integer CORE_W = {core_w};      // bits per input of the core ({core_int} integer, {core_frac} fraction)

    wire [N_IN*CORE_W-1:0] core_in;
    genvar k;
    generate
        for (k = 0; k < N_IN; k = k + 1) begin : g_in
            wire sign_ext = (k >= {signed_lo} && k <= {signed_hi}) ? in_data[IN_BITS*k + IN_BITS-1] : 1'b0;
            assign core_in[CORE_W*k +: CORE_W] =
                {{{{(CORE_W-IN_BITS-{core_frac}){{sign_ext}}}}, in_data[IN_BITS*k +: IN_BITS], {{{core_frac_bits}{{1'b0}}}}}};
        end
    endgenerate

    wire [{core_out_w}-1:0] core_out;
    {core_wrapper} u_core (
        .clk(clk),
        .model_inp(core_in),
        .model_out(core_out)
    );
    assign out_data = core_out[OUT_W-1:0];

    reg [LATENCY-1:0] valid_sr = {{LATENCY{{1'b0}}}};
    always @(posedge clk) valid_sr <= {{valid_sr[LATENCY-2:0], in_valid}};
    assign out_valid = valid_sr[LATENCY-1];
endmodule
`default_nettype wire
"""


def write_trigger_rtl(comb, rtl_dir: str | Path, wrapper_path: str | Path, *, module: str = "trigger_net",
                      latency_cutoff: float = 2.0, clock_period_ns: float = 5.0, part: str = "xczu7ev-ffvc1156-2-e",
                      in_bits: int = 8, signed_inputs: tuple[int, int] = (16, 31)) -> TriggerRtl:
    """Write da4ml's pipelined Verilog to ``rtl_dir`` and the ``trigger_net`` wrapper to ``wrapper_path``."""
    import da4ml
    from da4ml.codegen import VerilogModel
    from da4ml.trace import to_pipeline

    rtl_dir, wrapper_path = Path(rtl_dir).resolve(), Path(wrapper_path).resolve()
    core = f"{module}_core"
    work = rtl_dir.parent / f".{core}_da4ml"
    if work.exists():
        shutil.rmtree(work)
    pipe = to_pipeline(comb, latency_cutoff, verbose=False)
    VerilogModel(pipe, core, work, clock_period=clock_period_ns, part_name=part, print_latency=False).write()
    n_stages = len(pipe.solutions)
    # da4ml registers the core's input and every stage's output: n_stages + 1 clock edges in -> out.
    latency = n_stages + 1
    (k_in, i_in, f_in), (k_out, i_out, f_out) = _io_kif(pipe)
    core_w, out_w = k_in + i_in + f_in, k_out + i_out + f_out
    n_in, _n_out = pipe.shape
    has_unsigned = signed_inputs[0] > 0 or signed_inputs[1] < n_in - 1
    need = in_bits + (1 if (has_unsigned and k_in) else 0)
    if core_w - f_in < need:
        raise QuantizerConfigError(
            f"trigger_net takes {in_bits}-bit inputs ({'unsigned and signed' if has_unsigned else 'signed'}), which need "
            f"a {need}-bit input grid, but the network's input quantiser gives {core_w - f_in} bits; widen the "
            "input quantiser (models/trigger_net.py INPUT_BITS)."
        )
    # Collect sources: everything da4ml wrote under src/ (+ static helpers), memfiles beside them.
    if rtl_dir.exists():
        shutil.rmtree(rtl_dir)
    rtl_dir.mkdir(parents=True)
    sources = []
    for p in sorted((work / "src").rglob("*.v")):
        dst = rtl_dir / p.name
        shutil.copy(p, dst)
        sources.append(dst)
    mem_dir = rtl_dir / "memfiles"
    shutil.copytree(work / "src" / "memfiles", mem_dir)
    meta = json.loads((work / "metadata.json").read_text())
    shutil.rmtree(work)

    text = WRAPPER_TEMPLATE.format(
        da4ml_version=da4ml.__version__, core=core, module=module,
        out_w=out_w, out_frac=f_out, latency=latency, n_in=n_in, in_bits=in_bits, core_w=core_w,
        core_int=k_in + i_in, core_frac=f_in, core_frac_bits=max(f_in, 0), signed_lo=signed_inputs[0],
        signed_hi=signed_inputs[1], core_out_w=out_w * _n_out, core_wrapper=f"{core}_wrapper",
    )
    if f_in == 0:  # no fraction bits: drop the empty replication
        text = text.replace(", {0{1'b0}}", "")
    if core_w - f_in == in_bits:  # the byte fills the core's integer bits (all inputs signed): no extension
        text = re.sub(r"            wire sign_ext = .*\n", "", text)
        text = text.replace("{{(CORE_W-IN_BITS-%d){sign_ext}}, " % f_in, "{")
    wrapper_path.parent.mkdir(parents=True, exist_ok=True)
    wrapper_path.write_text(text)
    (rtl_dir / f"{module}_defs.vh").write_text(
        f"// GENERATED by `beamloop compile trigger`: facts of {module} for instantiating modules.\n"
        f"`define {module.upper()}_OUT_W {out_w}\n`define {module.upper()}_OUT_FRAC {f_out}\n"
        f"`define {module.upper()}_LATENCY {latency}\n")
    return TriggerRtl(module=module, core_module=core, wrapper=wrapper_path, sources=[wrapper_path, *sources],
                      memfile_dir=mem_dir, latency=latency, out_width=out_w, out_frac=f_out, in_width=core_w,
                      in_frac=f_in, luts_estimate=float(meta.get("cost", math.nan)),
                      ffs_estimate=int(meta.get("reg_bits", 0)), meta=meta)


def install_rtl(rtl: TriggerRtl, rtl_dir: str | Path, wrapper_path: str | Path) -> TriggerRtl:
    """Copy verified RTL to its destination (e.g. ``firmware/rtl``): the folder is replaced, the wrapper
    overwritten. Returns the same description with the new paths."""
    import dataclasses

    rtl_dir, wrapper_path = Path(rtl_dir).resolve(), Path(wrapper_path).resolve()
    src_dir = rtl.memfile_dir.parent
    if rtl_dir.exists():
        shutil.rmtree(rtl_dir)
    shutil.copytree(src_dir, rtl_dir)
    wrapper_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(rtl.wrapper, wrapper_path)
    sources = [wrapper_path] + [rtl_dir / p.name for p in rtl.sources[1:]]
    return dataclasses.replace(rtl, wrapper=wrapper_path, sources=sources, memfile_dir=rtl_dir / "memfiles")
