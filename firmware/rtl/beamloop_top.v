// beamloop_top: portable core of the beamloop FPGA (no pins, clocks or vendor primitives;
// board wrappers in firmware/boards/ instantiate it).
//   detector AXI-Stream -> trigger_path (frame_ingest -> feature_extract -> trigger_core) -> event queue
//   UART -> cmd_link -> dac_limiter -> DAC output registers;  watchdog holds the DACs.
`default_nettype none
`include "cmd_defs.vh"
module beamloop_top #(
    // detector / features
    parameter integer W = 64,
    parameter integer H = 64,
    parameter integer PIX_W = 16,
    parameter integer R = 16,
    parameter integer RB = 5,
    parameter MAP_FILE = "region_map_64x64.hex",
    parameter integer SHIFT = 4,              // reset values of the run-time shift registers
    parameter integer DSHIFT = 4,
    parameter integer OUT_W = 16,
    parameter integer FEATURES = 3,           // trigger network input version (docs/trigger_features.md; 3 = v3, the committed net)
    parameter integer EV_DEPTH = 8,
    // command link / DACs
    parameter integer CLKS_PER_BIT = 868,     // 100 MHz / 115200 baud
    parameter integer NCH = 8,
    parameter integer DW = 16,
    parameter [31:0] HW_MIN = 32'd0,
    parameter [31:0] HW_MAX = 32'd65535,
    parameter [31:0] HW_STEP = 32'd4096,
    parameter [31:0] RESET_VALUE = 32'd32768,
    parameter [31:0] SLEW = 32'd64,
    parameter integer TICK_DIV = 100,
    parameter integer WD_TIMEOUT = 100_000_000
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [PIX_W-1:0]  s_axis_tdata,
    input  wire              s_axis_tvalid,
    output wire              s_axis_tready,
    input  wire              s_axis_tuser,
    input  wire              s_axis_tlast,
    input  wire              uart_rx,
    output wire              uart_tx,
    output wire [NCH*DW-1:0] dac_out,
    output wire              trig_pulse,
    output wire              wd_tripped,
    output wire              ingest_error
);
`ifdef BEAMLOOP_TRIGGER_NET_REAL
    localparam integer NET_PLACEHOLDER = 0;
`else
    localparam integer NET_PLACEHOLDER = 1;
`endif
    // ---- trigger path (threshold and shifts are command-link registers)
    wire signed [31:0] threshold;
    wire [4:0] shift, dshift;
    wire trig_valid;
    wire [31:0] trig_frame, frames, ingest_errors, triggers;
    wire [47:0] trig_time;
    wire signed [15:0] trig_score;
    trigger_path #(.W(W), .H(H), .PIX_W(PIX_W), .R(R), .RB(RB), .MAP_FILE(MAP_FILE), .OUT_W(OUT_W), .FEATURES(FEATURES)) u_trigger (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .s_axis_tuser(s_axis_tuser), .s_axis_tlast(s_axis_tlast),
        .threshold(threshold), .shift(shift), .dshift(dshift),
        .trig_valid(trig_valid), .trig_frame(trig_frame), .trig_time(trig_time), .trig_score(trig_score),
        .ingest_error(ingest_error), .frames(frames), .ingest_errors(ingest_errors), .triggers(triggers));
    assign trig_pulse = trig_valid;

    wire [95:0] ev_data;
    wire ev_valid, ev_pop, ev_overflow;
    wire [7:0] ev_count;
    sync_fifo #(.WIDTH(96), .DEPTH(EV_DEPTH)) u_events (
        .clk(clk), .rst(rst), .s_data({trig_frame, trig_time, trig_score}), .s_valid(trig_valid),
        .m_data(ev_data), .m_valid(ev_valid), .m_pop(ev_pop), .count(ev_count), .overflow(ev_overflow));

    // ---- command / DAC path
    wire hb, rearm;
    wire [31:0] wd_trips;
    watchdog #(.TIMEOUT(WD_TIMEOUT)) u_wd (
        .clk(clk), .rst(rst), .heartbeat(hb), .rearm(rearm), .tripped(wd_tripped), .trips(wd_trips));

    wire req_valid, req_op, rsp_valid, ramping;
    wire [7:0] req_ch, rsp_err;
    wire [31:0] req_value, req_min, req_max, req_step;
    wire [NCH*DW-1:0] dac_target;
    wire [NCH*32-1:0] lim_min, lim_max, lim_step;
    dac_limiter #(.NCH(NCH), .DW(DW), .HW_MIN(HW_MIN), .HW_MAX(HW_MAX), .HW_STEP(HW_STEP),
                  .RESET_VALUE(RESET_VALUE), .SLEW(SLEW), .TICK_DIV(TICK_DIV)) u_dac (
        .clk(clk), .rst(rst), .req_valid(req_valid), .req_op(req_op), .req_ch(req_ch),
        .req_value(req_value), .req_min(req_min), .req_max(req_max), .req_step(req_step),
        .rsp_valid(rsp_valid), .rsp_err(rsp_err), .hold(wd_tripped),
        .dac_out(dac_out), .dac_target(dac_target), .lim_min(lim_min), .lim_max(lim_max),
        .lim_step(lim_step), .ramping(ramping));

    wire [31:0] flags = ({31'd0, wd_tripped} << `FLAG_WD_TRIPPED)
                      | ({31'd0, ingest_error} << `FLAG_INGEST_ERROR)
                      | ({31'd0, ramping} << `FLAG_RAMPING)
                      | ({31'd0, ev_overflow} << `FLAG_TRIG_OVERFLOW)
                      | (NET_PLACEHOLDER[31:0] << `FLAG_NET_PLACEHOLDER);
    wire [31:0] c_ok, c_crc, c_len, c_unk, c_ref;
    cmd_link #(.CLKS_PER_BIT(CLKS_PER_BIT), .NCH(NCH), .DW(DW), .NET_PLACEHOLDER(NET_PLACEHOLDER),
               .SHIFT_RESET(SHIFT), .DSHIFT_RESET(DSHIFT)) u_link (
        .clk(clk), .rst(rst), .rx(uart_rx), .tx(uart_tx), .hb_pulse(hb), .resume_pulse(rearm),
        .dac_req_valid(req_valid), .dac_req_op(req_op), .dac_req_ch(req_ch), .dac_req_value(req_value),
        .dac_req_min(req_min), .dac_req_max(req_max), .dac_req_step(req_step),
        .dac_rsp_valid(rsp_valid), .dac_rsp_err(rsp_err), .dac_out(dac_out), .dac_target(dac_target),
        .lim_min(lim_min), .lim_max(lim_max), .lim_step(lim_step),
        .st_flags(flags), .st_frames(frames), .st_ingest_errors(ingest_errors), .st_triggers(triggers),
        .st_wd_trips(wd_trips), .ev_valid(ev_valid), .ev_count(ev_count), .ev_data(ev_data), .ev_pop(ev_pop),
        .threshold(threshold), .shift(shift), .dshift(dshift), .cnt_rx_ok(c_ok), .cnt_crc_err(c_crc), .cnt_len_err(c_len),
        .cnt_unknown(c_unk), .cnt_refused(c_ref));

    // observed only in simulation / debug
    wire unused = &{1'b0, c_ok, c_crc, c_len, c_unk, c_ref, 1'b0};
endmodule
`default_nettype wire
