# Vivado non-project build of arty_a7_top (Arty A7-35T).
#   vivado -mode batch -source firmware/boards/arty_a7/build.tcl -tclargs <out_dir> [real_net]
# Cannot run in CI (needs a Vivado licence/installation; WebPACK covers the xc7a35t).
# With the argument real_net, firmware/rtl/trigger_net.v (da4ml, from hls/) replaces the placeholder.
set here [file dirname [file normalize [info script]]]
set rtl  [file normalize "$here/../../rtl"]
set out  [expr {[llength $argv] > 0 ? [lindex $argv 0] : "build_arty"}]
set real_net [expr {[llength $argv] > 1 && [lindex $argv 1] eq "real_net"}]
file mkdir $out
set_part xc7a35ticsg324-1L
set files {crc16_update.v uart_rx.v uart_tx.v cmd_link.v frame_ingest.v feature_extract.v
           trigger_core.v trigger_path.v sync_fifo.v watchdog.v dac_limiter.v dac_spi.v beamloop_top.v}
set generics {}
if {$real_net} {
    lappend files trigger_net.v
    foreach g [lsort [glob -nocomplain "$rtl/generated/*.v"]] { lappend files "generated/[file tail $g]" }
    set defs {BEAMLOOP_TRIGGER_NET_REAL}
    # the network's output width, from the generated wrapper
    set fh [open "$rtl/trigger_net.v"]; set txt [read $fh]; close $fh
    if {![regexp {parameter integer OUT_W = ([0-9]+)} $txt -> out_w]} { error "no OUT_W in trigger_net.v" }
    set generics [list -generic NET_OUT_W=$out_w]
} else { lappend files trigger_net_placeholder.v; set defs {} }
foreach f $files { read_verilog -sv "$rtl/$f" }
read_verilog -sv "$here/../common/bench_board.v"
read_verilog -sv "$here/arty_a7_top.v"
read_xdc "$here/arty_a7.xdc"
add_files "$rtl/region_map_64x64.hex"
set_property file_type {Memory Initialization Files} [get_files "$rtl/region_map_64x64.hex"]
synth_design -top arty_a7_top -include_dirs $rtl -verilog_define $defs {*}$generics
opt_design
place_design
phys_opt_design
route_design
report_utilization -file "$out/utilization.rpt"
report_timing_summary -file "$out/timing.rpt"
write_bitstream -force "$out/arty_a7_top.bit"
