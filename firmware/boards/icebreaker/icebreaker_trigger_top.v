// icebreaker_trigger_top: the trigger path (frame_ingest -> feature_extract -> trigger_core
// with the placeholder network) on an iCEBreaker (iCE40UP5K-SG48), built with the open flow
// (yosys synth_ice40, nextpnr-ice40, icepack). Pins only; the core is trigger_path.
//   12 MHz CLK; BTN_N resets.
//   Pixel bus (synchronous to CLK): P1A = data[7:0], P1B = data[15:8],
//   P2_1 = valid, P2_2 = start of frame, P2_3 = end of line, P2_4 = ready (out),
//   P2_7 = trigger pulse (out), P2_8 = malformed frame seen (out).
//   LEDG_N lights on triggers (stretched), LEDR_N on malformed frames.
// The trigger frame number / timestamp / score are not brought out on this board.
`default_nettype none
module icebreaker_trigger_top (
    input  wire       CLK,
    input  wire       BTN_N,
    input  wire [7:0] P1A,
    input  wire [7:0] P1B,
    input  wire       P2_1,
    input  wire       P2_2,
    input  wire       P2_3,
    output wire       P2_4,
    output wire       P2_7,
    output wire       P2_8,
    output wire       LEDR_N,
    output wire       LEDG_N
);
    reg [2:0] rst_sync = 3'b111;
    always @(posedge CLK) rst_sync <= {rst_sync[1:0], ~BTN_N};
    wire rst = rst_sync[2];
    reg [15:0] d;
    reg v, sof, eol;
    always @(posedge CLK) begin d <= {P1B, P1A}; v <= P2_1; sof <= P2_2; eol <= P2_3; end
    wire trig, ingest_error;
    wire [31:0] trig_frame;
    wire [47:0] trig_time;
    wire [15:0] trig_score;
    wire [31:0] frames, ingest_errors, triggers;
    // fixed settings on this board (no command link): threshold 0, shifts 4/4; placeholder
    // network on v1 inputs (FEATURES 1): the v2 preprocessing (32 parallel log2 codes, 16
    // baselines) and the frame buffer would not fit the UP5K beside the rest (docs/firmware.md)
    trigger_path #(.MAP_FILE("region_map_64x64.hex"), .FEATURES(1)) u_core (
        .clk(CLK), .rst(rst), .s_axis_tdata(d), .s_axis_tvalid(v), .s_axis_tready(P2_4),
        .s_axis_tuser(sof), .s_axis_tlast(eol), .threshold(32'sd0), .shift(5'd4), .dshift(5'd4),
        .trig_valid(trig), .trig_frame(trig_frame),
        .trig_time(trig_time), .trig_score(trig_score), .ingest_error(ingest_error),
        .frames(frames), .ingest_errors(ingest_errors), .triggers(triggers));
    reg [21:0] stretch = 22'd0;
    always @(posedge CLK) stretch <= trig ? 22'h3FFFFF : (stretch != 0 ? stretch - 1'b1 : 22'd0);
    assign P2_7 = trig;
    assign P2_8 = ingest_error;
    assign LEDG_N = ~(stretch != 22'd0);
    assign LEDR_N = ~ingest_error;
    wire unused = &{1'b0, trig_frame, trig_time, trig_score, frames, ingest_errors, triggers, 1'b0};
endmodule
`default_nettype wire
