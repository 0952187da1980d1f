"""beamloop.hls: quantised networks -> hls4ml projects (bit-exact C++ emulation) and da4ml Verilog.

Modules: ``qonnx_flow`` (export, clean-up, checks), ``hls4ml_project`` (YAML settings, convert,
emulation), ``bitexact`` (the comparison), ``latency`` (estimate without Vitis), ``da4ml_flow``
(trigger MLP -> Verilog + ``trigger_net`` wrapper), ``rtl_sim`` (Icarus), ``yosys`` (LUT/FF/DSP),
``compile_flow`` (``beamloop compile``), ``bench`` (``beamloop bench fpga``), ``errors``.
See docs/hls.md.
"""
