// trigger_path: detector stream -> frame_ingest -> feature_extract -> trigger_core: the
// trigger half of the FPGA. beamloop_top instantiates it (threshold and shifts from the
// command link's registers); the iCE40 build uses it alone with constant settings.
`default_nettype none
module trigger_path #(
    parameter integer W = 64,
    parameter integer H = 64,
    parameter integer PIX_W = 16,
    parameter integer R = 16,
    parameter integer RB = 5,
    parameter MAP_FILE = "region_map_64x64.hex",
    parameter integer OUT_W = 16,
    parameter integer FEATURES = 3          // trigger network input version (trigger_core; 3 adds E2 in feature_extract)
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [PIX_W-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    input  wire             s_axis_tuser,
    input  wire             s_axis_tlast,
    input  wire signed [31:0] threshold,   // fire when score > threshold
    input  wire [4:0]       shift,         // network-input shifts (docs/trigger_features.md)
    input  wire [4:0]       dshift,
    output wire             trig_valid,
    output wire [31:0]      trig_frame,
    output wire [47:0]      trig_time,
    output wire [15:0]      trig_score,
    output wire             ingest_error,
    output wire [31:0]      frames,        // frames seen by frame_ingest
    output wire [31:0]      ingest_errors, // malformed frames
    output wire [31:0]      triggers       // triggers fired
);
    localparam integer XW = (W > 1) ? $clog2(W) : 1;
    localparam integer YW = (H > 1) ? $clog2(H) : 1;
    localparam integer AW = $clog2(W * H);
    wire [PIX_W-1:0] px_data;
    wire px_valid, px_ready, px_last;
    wire [1:0] px_user;
    wire [XW-1:0] px_x;
    wire [YW-1:0] px_y;
    wire [31:0] pixels;
    wire [2:0] last_error;
    frame_ingest #(.W(W), .H(H), .PIX_W(PIX_W)) u_ingest (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .s_axis_tuser(s_axis_tuser), .s_axis_tlast(s_axis_tlast),
        .m_axis_tdata(px_data), .m_axis_tvalid(px_valid), .m_axis_tready(px_ready),
        .m_axis_tuser(px_user), .m_axis_tlast(px_last), .m_axis_x(px_x), .m_axis_y(px_y),
        .pixels(pixels), .frames(frames), .errors(ingest_errors), .error_flag(ingest_error), .last_error(last_error));
    wire feat_valid;
    wire [R*32-1:0] feat_sums, feat_esums;
    wire feat_evalid, feat_e2valid;
    wire [R*32-1:0] feat_esums2;
    wire [31:0] feat_total, feat_frame;
    wire signed [47:0] feat_mx, feat_my;
    feature_extract #(.W(W), .H(H), .PIX_W(PIX_W), .R(R), .RB(RB), .MAP_FILE(MAP_FILE), .E2(FEATURES == 3 ? 1 : 0)) u_feat (
        .clk(clk), .rst(rst),
        .s_axis_tdata(px_data), .s_axis_tvalid(px_valid), .s_axis_tready(px_ready),
        .s_axis_tuser(px_user), .s_axis_x(px_x), .s_axis_y(px_y),
        .map_we(1'b0), .map_addr({AW{1'b0}}), .map_data({RB{1'b0}}),
        .m_feat_valid(feat_valid), .m_feat_sums(feat_sums), .m_feat_esums(feat_esums), .m_feat_evalid(feat_evalid),
        .m_feat_esums2(feat_esums2), .m_feat_e2valid(feat_e2valid), .m_feat_total(feat_total),
        .m_feat_mx(feat_mx), .m_feat_my(feat_my), .m_feat_frame(feat_frame));
    wire net_in_valid, score_valid;
    wire [255:0] net_in_data;
    wire signed [OUT_W-1:0] score;
    trigger_core #(.R(R), .OUT_W(OUT_W), .FEATURES(FEATURES)) u_trig (
        .clk(clk), .rst(rst), .feat_valid(feat_valid), .feat_sums(feat_sums), .feat_esums(feat_esums), .feat_evalid(feat_evalid),
        .feat_esums2(feat_esums2), .feat_e2valid(feat_e2valid), .feat_frame(feat_frame),
        .threshold(threshold), .shift(shift), .dshift(dshift), .net_in_valid(net_in_valid), .net_in_data(net_in_data),
        .score_valid(score_valid), .score(score), .trig_valid(trig_valid), .trig_frame(trig_frame),
        .trig_time(trig_time), .trig_score(trig_score), .triggers(triggers));
    // observed only in simulation / debug
    wire unused = &{1'b0, px_last, pixels, last_error, feat_total, feat_mx, feat_my,
                    net_in_valid, net_in_data, score_valid, score, 1'b0};
endmodule
`default_nettype wire
