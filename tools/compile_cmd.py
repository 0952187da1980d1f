"""``beamloop compile <model>`` and ``beamloop bench fpga`` (thin wiring around beamloop.hls)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _quiet_library_warnings() -> None:
    """brevitas/qonnx warn about optional kernels and opset versions on every run; not actionable here."""
    import warnings

    for mod in ("brevitas", "qonnx", "hls4ml", "torch"):
        warnings.filterwarnings("ignore", category=UserWarning, module=mod)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("compile")
    def compile_(
        model: str = typer.Argument(..., help="network: alignment | alignment_fine | trigger"),
        out: Optional[Path] = typer.Option(None, "--out", help="output folder (default hls_out/<model>/)"),
        vectors: Optional[int] = typer.Option(None, "--vectors", help="bit-exact vectors (default from the YAML)"),
        rtl_vectors: Optional[int] = typer.Option(None, "--rtl-vectors",
                                                  help="trigger: vectors through the Verilog in Icarus (default 2000)"),
        config: Optional[Path] = typer.Option(None, "--config", help="hls4ml YAML (default hls/configs/<model>.yaml)"),
        synth: bool = typer.Option(False, "--synth", help="also run Vitis HLS C synthesis (needs vitis_hls on PATH)"),
        untrained: bool = typer.Option(False, "--untrained", help="compile the untrained architecture (plumbing)"),
        rtl_to_firmware: bool = typer.Option(True, "--rtl-to-firmware/--rtl-to-out",
                                             help="trigger: write trigger_net.v into firmware/rtl/ (default) "
                                                  "or into the output folder"),
    ) -> None:
        """Checkpoint -> QONNX -> hls4ml project (+ da4ml Verilog for the trigger net), bit-exact checked."""
        _quiet_library_warnings()
        from beamloop.hls.compile_flow import REPO_ROOT, compile_network, load_network
        from beamloop.hls.errors import HlsFlowError, ToolMissingError
        from beamloop.hls.hls4ml_project import HlsSettings, run_vitis

        try:
            settings = HlsSettings.load(config or model)
            net = load_network(model, pretrained=not untrained)
            out_dir = out or Path("hls_out") / model
            rtl_dir = wrapper = None
            if settings.da4ml and rtl_to_firmware and untrained:
                typer.echo("--untrained: the RTL stays in the output folder (firmware/rtl/ only gets trained networks)")
            if settings.da4ml and rtl_to_firmware and not untrained:
                rtl_dir = REPO_ROOT / settings.da4ml.get("rtl_dir", "firmware/rtl/generated")
                wrapper = REPO_ROOT / "firmware" / "rtl" / f"{settings.da4ml.get('module', 'trigger_net')}.v"
            res = compile_network(net, settings, out_dir, n_vectors=vectors, rtl_dir=rtl_dir, wrapper_path=wrapper,
                                  rtl_vectors=rtl_vectors, log=typer.echo)
            typer.echo(f"bit-exact: {res.bitexact.matches}/{res.bitexact.total} (PyTorch = QONNX = hls4ml C++)")
            if res.rtl_bitexact is not None:
                typer.echo(f"bit-exact RTL: {res.rtl_bitexact.matches}/{res.rtl_bitexact.total} "
                           "(PyTorch = da4ml Verilog in Icarus)")
            if synth:
                try:
                    rep = run_vitis(res.out_dir / "hls4ml_prj")
                    typer.echo(f"Vitis HLS report: {rep}")
                except ToolMissingError as exc:
                    typer.echo(f"--synth: Vitis HLS is not installed here, so no synthesis report. {exc}\n"
                               f"On a machine with Vitis: cd {res.out_dir / 'hls4ml_prj'} && "
                               "vitis_hls -f build_prj.tcl (see docs/hls.md).")
            else:
                typer.echo(f"Vitis HLS: cd {res.out_dir / 'hls4ml_prj'} && vitis_hls -f build_prj.tcl "
                           "(not run here; latency above is an estimate)")
        except HlsFlowError as exc:
            typer.echo(f"beamloop compile {model}: {exc}", err=True)
            raise typer.Exit(code=2) from None

    @bench.command("fpga")
    def bench_fpga(
        json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
        out: Optional[Path] = typer.Option(None, "--out", help="result file (default bench_results/fpga.json)"),
        vectors: Optional[int] = typer.Option(None, "--vectors", help="bit-exact vectors per network"),
        work: Path = typer.Option(Path("hls_out/bench"), "--work", help="scratch folder for the projects"),
        untrained: bool = typer.Option(False, "--untrained", help="use untrained architectures"),
    ) -> None:
        """Bit-exact counts, latency and LUT/FF/DSP per network (alignment, trigger) and for the firmware top."""
        _quiet_library_warnings()
        from beamloop.firmware.bench import run_fpga_bench
        from beamloop.hls.errors import HlsFlowError
        from beamloop.tools.benchio import emit

        log = (lambda s: typer.echo(s, err=True)) if json_out else typer.echo
        try:
            result = run_fpga_bench(work, n_vectors=vectors, pretrained=not untrained, log=log)
        except HlsFlowError as exc:
            typer.echo(f"beamloop bench fpga: {exc}", err=True)
            raise typer.Exit(code=2) from None
        emit("fpga", result, json_out, out)
