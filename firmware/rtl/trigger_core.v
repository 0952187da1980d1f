// trigger_core: network input preprocessing + trigger network + trigger decision.
// On each feature vector (one per frame):
//   a[k] = sat_u8(S[k] >> shift), d[k] = sat_s8((S[k] - S_prev[k]) >>> dshift)
// (docs/trigger_features.md; S_prev = previous frame's sums, 0 after reset), packed as 32
// bytes (input 0 in the least significant byte) into the network. When the network's score
// exceeds `threshold`, a one-cycle trig_valid pulse carries the frame number, the 48-bit
// cycle timestamp of the decision and the score (saturated to 16 bits).
// Network: `trigger_net` (da4ml, from hls/) when BEAMLOOP_TRIGGER_NET_REAL is defined,
// otherwise the clearly marked `trigger_net_placeholder`. OUT_W must equal the network's.
`default_nettype none
module trigger_core #(
    parameter integer R = 16,            // fixed by the network: 16 sums -> 32 inputs
    parameter integer OUT_W = 16
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    feat_valid,
    input  wire [R*32-1:0]         feat_sums,
    input  wire [31:0]             feat_frame,
    input  wire signed [31:0]      threshold,
    input  wire [4:0]              shift,     // SHIFT, DSHIFT of docs/trigger_features.md
    input  wire [4:0]              dshift,    // (run-time registers, set from the dose)
    output reg                     net_in_valid,
    output reg  [32*8-1:0]         net_in_data,
    output wire                    score_valid,     // raw network out_valid
    output wire signed [OUT_W-1:0] score,
    output reg                     trig_valid,
    output reg  [31:0]             trig_frame,
    output reg  [47:0]             trig_time,
    output reg  signed [15:0]      trig_score,
    output reg  [31:0]             triggers
);
    // Preprocessing is time-multiplexed: one region per cycle through a single pair of
    // shifters (16 cycles per frame), because run-time shifts in parallel cost ~3.8k LUTs.
    // feat_sums must stay stable for R cycles after feat_valid (feature_extract holds its
    // outputs until the next frame ends). shift/dshift changes apply from the next frame.
    localparam integer IW = (R > 1) ? $clog2(R) : 1;
    localparam integer RL = R - 1;
    localparam [IW-1:0] IDX_LAST = RL[IW-1:0];
    reg [31:0] prev [0:R-1];
    reg [47:0] cycle;
    reg [31:0] frame_hold;
    reg        busy;
    reg [IW-1:0] idx;
    reg [4:0]  sh_a, sh_d;                 // shifts latched for the frame
    integer k;
    wire [31:0] s_cur = feat_sums[idx*32 +: 32];
    wire [31:0] sh = s_cur >> sh_a;
    wire signed [32:0] df = $signed({1'b0, s_cur}) - $signed({1'b0, prev[idx]});
    wire signed [32:0] dsh = df >>> sh_d;
    wire [7:0] a_byte = (sh > 32'd255) ? 8'hFF : sh[7:0];
    wire [7:0] d_byte = (dsh > 33'sd127) ? 8'h7F : (dsh < -33'sd128) ? 8'h80 : dsh[7:0];

    always @(posedge clk) begin
        if (rst) begin
            for (k = 0; k < R; k = k + 1) prev[k] <= 32'd0;
            cycle <= 48'd0; net_in_valid <= 1'b0; net_in_data <= {32*8{1'b0}}; frame_hold <= 32'd0;
            busy <= 1'b0; idx <= {IW{1'b0}}; sh_a <= 5'd0; sh_d <= 5'd0;
        end else begin
            cycle <= cycle + 1'b1;
            net_in_valid <= 1'b0;
            if (feat_valid) begin
                busy <= 1'b1; idx <= {IW{1'b0}}; frame_hold <= feat_frame;
                sh_a <= shift; sh_d <= dshift;
            end else if (busy) begin
                net_in_data[8*idx +: 8] <= a_byte;
                net_in_data[8*(16+idx) +: 8] <= d_byte;
                prev[idx] <= s_cur;
                idx <= idx + 1'b1;
                if (idx == IDX_LAST) begin busy <= 1'b0; net_in_valid <= 1'b1; end
            end
        end
    end

`ifdef BEAMLOOP_TRIGGER_NET_REAL
    trigger_net u_net (
`else
    trigger_net_placeholder #(.OUT_W(OUT_W)) u_net (
`endif
        .clk(clk), .in_valid(net_in_valid), .in_data(net_in_data),
        .out_valid(score_valid), .out_data(score));

    // Only a score the network owes us counts: out_valid is ignored while no input is in
    // flight (a network pipeline without reset may show X/garbage valids after power-up).
    // Frames are far longer than the network latency, so one input is in flight at most and
    // frame_hold names the frame of the score.
    reg [3:0] inflight;
    wire score_ok = score_valid && (inflight != 4'd0);
    wire signed [31:0] score32 = {{(32-OUT_W){score[OUT_W-1]}}, score};
    always @(posedge clk) begin
        if (rst) begin
            trig_valid <= 1'b0; trig_frame <= 32'd0; trig_time <= 48'd0; trig_score <= 16'sd0;
            triggers <= 32'd0; inflight <= 4'd0;
        end else begin
            inflight <= inflight + {3'd0, net_in_valid} - {3'd0, score_ok};
            trig_valid <= score_ok && (score32 > threshold);
            if (score_ok && (score32 > threshold)) begin
                trig_frame <= frame_hold;
                trig_time <= cycle;
                trig_score <= (score32 > 32'sd32767) ? 16'sh7FFF : (score32 < -32'sd32768) ? 16'sh8000 : score32[15:0];
                triggers <= triggers + 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
