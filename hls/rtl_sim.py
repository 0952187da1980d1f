"""Run the generated ``trigger_net`` Verilog in Icarus on thousands of vectors (no cocotb needed).

A generated self-checking-free testbench streams the vectors one per clock (with random
``in_valid`` bubbles), logs every ``out_valid`` word with its cycle, and Python compares the
words with the reference. The cocotb test in ``hil_tests/hls/`` does the same through cocotb;
this path is what ``beamloop compile trigger`` and ``beamloop bench fpga`` run (faster).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beamloop.hls.errors import HlsFlowError, require_tool

TB_TEMPLATE = """`timescale 1ns / 1ps
`default_nettype none
module tb_{top};
    localparam integer N = {n};
    reg clk = 1'b0;
    always #2.5 clk = ~clk;
    reg in_valid = 1'b0;
    reg [{in_w}-1:0] in_data = 0;
    wire out_valid;
    wire signed [{out_w}-1:0] out_data;
    reg [{in_w}-1:0] vecs [0:N-1];
    reg gaps [0:N-1];
    integer i, fd, cyc;
    {top} dut (.clk(clk), .in_valid(in_valid), .in_data(in_data), .out_valid(out_valid), .out_data(out_data));
    initial cyc = 0;
    always @(posedge clk) cyc <= cyc + 1;
    always @(negedge clk) if (out_valid) $fwrite(fd, "O %0d %0d\\n", cyc, out_data);
    initial begin
        $readmemh("{vec_file}", vecs);
        $readmemb("{gap_file}", gaps);
        fd = $fopen("{out_file}", "w");
        @(negedge clk);
        for (i = 0; i < N; i = i + 1) begin
            if (gaps[i]) begin in_valid = 1'b0; in_data = ~vecs[i]; @(negedge clk); end
            in_valid = 1'b1; in_data = vecs[i];
            $fwrite(fd, "I %0d\\n", cyc);
            @(negedge clk);
        end
        in_valid = 1'b0;
        repeat ({drain}) @(negedge clk);
        $fclose(fd);
        $finish;
    end
endmodule
`default_nettype wire
"""


@dataclass
class RtlSimResult:
    outputs: np.ndarray          # (N,) signed integers, in order of the input vectors
    latency_cycles: list[int]    # distinct measured in->out latencies (one value when correct)
    n_in: int
    n_out: int


def pack_bytes(x: np.ndarray, in_bits: int = 8) -> list[str]:
    """Integer vectors (N, n) -> hex words with input k at bits [in_bits*k +: in_bits] (two's complement)."""
    x = np.asarray(x, dtype=np.int64)
    mask = (1 << in_bits) - 1
    words = []
    for row in x:
        w = 0
        for k, v in enumerate(row):
            w |= (int(v) & mask) << (in_bits * k)
        words.append(f"{w:x}")
    return words


def simulate(sources: list[Path], top: str, x_int: np.ndarray, out_width: int, latency: int, in_bits: int = 8,
             seed: int = 0, workdir: str | Path | None = None) -> RtlSimResult:
    """Compile ``sources`` with a generated testbench in Icarus and stream ``x_int`` (N, n_in) through ``top``."""
    require_tool("iverilog", "simulating the trigger network RTL")
    require_tool("vvp", "simulating the trigger network RTL")
    x_int = np.asarray(x_int, dtype=np.int64)
    n, n_in = x_int.shape
    tmp = tempfile.TemporaryDirectory(prefix="beamloop_rtl_") if workdir is None else None
    wd = Path(tmp.name if tmp else workdir)
    wd.mkdir(parents=True, exist_ok=True)
    try:
        (wd / "vectors.hex").write_text("\n".join(pack_bytes(x_int, in_bits)) + "\n")
        gaps = np.random.default_rng(seed).random(n) < 0.15
        (wd / "gaps.bin").write_text("\n".join("1" if g else "0" for g in gaps) + "\n")
        tb = wd / f"tb_{top}.v"
        tb.write_text(TB_TEMPLATE.format(top=top, n=n, in_w=n_in * in_bits, out_w=out_width,
                                         vec_file=wd / "vectors.hex", gap_file=wd / "gaps.bin",
                                         out_file=wd / "out.txt", drain=latency + 8))
        exe = wd / "sim.vvp"
        cmd = ["iverilog", "-g2012", "-s", f"tb_{top}", "-o", str(exe), str(tb), *map(str, sources)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise HlsFlowError(f"iverilog failed on the generated RTL:\n{proc.stderr[-3000:]}")
        proc = subprocess.run(["vvp", "-n", str(exe)], capture_output=True, text=True, cwd=wd)
        if proc.returncode != 0:
            raise HlsFlowError(f"vvp failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        ins, outs = [], []
        for line in (wd / "out.txt").read_text().splitlines():
            tag, *vals = line.split()
            if tag == "I":
                ins.append(int(vals[0]))
            else:
                outs.append((int(vals[0]), int(vals[1])))
    finally:
        if tmp is not None:
            tmp.cleanup()
    lat = sorted({o[0] - i for i, o in zip(ins, outs)})
    return RtlSimResult(outputs=np.array([o[1] for o in outs], dtype=np.int64), latency_cycles=lat,
                        n_in=len(ins), n_out=len(outs))
