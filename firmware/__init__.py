"""beamloop.firmware: Verilog cores (``rtl/``), board wrappers (``boards/``) and Python helpers.

- ``link_protocol``: the command-link protocol from ``link_protocol.yaml`` (+ ``cmd_defs.vh`` generator)
- ``board_model``: byte-level Python model of the command path (golden model, fake board)
- ``region_map``: detector region maps for ``feature_extract`` (``$readmemh`` files)
- ``sources``: core file lists and the cocotb/Icarus runner helper
- ``synth``: yosys resource counts (``yosys_stats``)
- ``build``: iCE40 open-flow bitstream and the Vivado flow for the Arty A7

See docs/firmware.md.
"""
