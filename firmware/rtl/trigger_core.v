// trigger_core: network input preprocessing + trigger network + trigger decision.
// On each feature vector (one per frame), per region k (docs/trigger_features.md, v2):
//   le[k] = lq(E[k])                      change energy, 8-bit log2 code (unsigned byte)
//   rb[k] = sat_s8(le[k] - lq(B[k]))       change against the running baseline (signed byte)
//   B[k] <- B[k] + ((E[k] - B[k]) >>> BSHIFT)   (B := E at the first valid frame)
// lq(v) = 8*floor(log2 v) + the 3 bits below the leading one (0 for v <= 1). Frames whose E is
// not valid (first frame, frame after a dropped one) give le = rb = 0 and leave B unchanged.
// Packed as 32 bytes (input 0 in the least significant byte: le[0..15], then rb[0..15]) into
// the network (FEATURES = 2). FEATURES = 3 (v3, the default since session 6): the same treatment of E2[k] (change
// energy against two frames back, its own baseline B2[k], valid flag e2valid) and the bytes
// rb[0..15] (of E), then rb2[k] = sat_s8(lq(E2[k]) - lq(B2[k])) (all signed). FEATURES = 1 keeps the v1 input (network before issue 13):
//   a[k] = sat_u8(S[k] >> shift), d[k] = sat_s8((S[k] - S_prev[k]) >>> dshift).
// When the network's score exceeds `threshold`, a one-cycle trig_valid pulse
// carries the frame number, the 48-bit cycle timestamp of the decision and the score
// (saturated to 16 bits). The v2 log-domain features need no dose shifts (`shift`/`dshift`
// are used by FEATURES = 1 only).
// Network: `trigger_net` (da4ml, from hls/) when BEAMLOOP_TRIGGER_NET_REAL is defined,
// otherwise the clearly marked `trigger_net_placeholder`. OUT_W must equal the network's.
`default_nettype none
module trigger_core #(
    parameter integer R = 16,            // fixed by the network: 16 sums -> 32 inputs
    parameter integer OUT_W = 16,
    parameter integer FEATURES = 3,      // network input version: 1 = a[k], d[k]; 2 = le[k], rb[k];
                                         // 3 = rb[k] of E, rb2[k] of E2 (two frames back; default since session 6)
    parameter integer BSHIFT = 3         // v2 baseline time constant 2^BSHIFT frames
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    feat_valid,
    input  wire [R*32-1:0]         feat_sums,
    input  wire [R*32-1:0]         feat_esums,
    input  wire                    feat_evalid,
    input  wire [R*32-1:0]         feat_esums2,   // E2[k] against two frames back (FEATURES = 3)
    input  wire                    feat_e2valid,
    input  wire [31:0]             feat_frame,
    input  wire signed [31:0]      threshold,
    input  wire [4:0]              shift,     // SHIFT, DSHIFT of docs/trigger_features.md
    input  wire [4:0]              dshift,    // (run-time registers, set from the dose)
    output reg                     net_in_valid,    // (combinational: driven by always @*)
    output reg  [32*8-1:0]         net_in_data,
    output wire                    score_valid,     // raw network out_valid
    output wire signed [OUT_W-1:0] score,
    output reg                     trig_valid,
    output reg  [31:0]             trig_frame,
    output reg  [47:0]             trig_time,
    output reg  signed [15:0]      trig_score,
    output reg  [31:0]             triggers
);
    // FEATURES = 2: all R regions in parallel, three pipeline stages (exponent of E; lq of E,
    // B; the saturated difference): net_in_valid 3 cycles after feat_valid.
    // FEATURES = 1: time-multiplexed, one region per cycle (R cycles; feat_sums must stay
    // stable for R cycles after feat_valid: feature_extract holds its outputs until the next
    // frame ends).
    localparam integer IW = (R > 1) ? $clog2(R) : 1;
    localparam integer RL = R - 1;
    localparam [IW-1:0] IDX_LAST = RL[IW-1:0];
    localparam V2 = (FEATURES == 2);
    localparam V3 = (FEATURES == 3);
    localparam integer NL = V3 ? 2 * R : R;   // change-energy lanes (v2: E; v3: E and E2)
    reg [47:0] cycle;
    reg [31:0] frame_hold;
    function [4:0] lq_exp;                 // floor(log2 v) (leading-one index), 0 for v <= 1
        input [31:0] v;
        integer b;
        begin
            lq_exp = 5'd0;
            for (b = 1; b < 32; b = b + 1) if (v[b]) lq_exp = b[4:0];
        end
    endfunction
    function [2:0] lq_mant;                // the 3 bits below the leading one (lq = {exp, mant})
        input [31:0] v;
        input [4:0] e;
        /* verilator lint_off UNUSEDSIGNAL */
        reg [34:0] t;                      // only t[2:0] is used
        /* verilator lint_on UNUSEDSIGNAL */
        begin
            t = {v, 3'b000} >> e;
            lq_mant = t[2:0];
        end
    endfunction
    always @(posedge clk) begin
        if (rst) begin
            cycle <= 48'd0; frame_hold <= 32'd0;
        end else begin
            cycle <= cycle + 1'b1;
            if (feat_valid) frame_hold <= feat_frame;
        end
    end

    wire              v1_valid, v2_valid;
    wire [32*8-1:0]   v1_data, v2_data;
    always @(*) begin
        net_in_valid = (V2 || V3) ? v2_valid : v1_valid;
        net_in_data = (V2 || V3) ? v2_data : v1_data;
    end

    generate if (V2 || V3) begin : g_v2
        // timing (ECP5, 100 MHz): lq split in two registered steps (exponent = leading-one
        // index, then the 3 mantissa bits), the baseline update in two (E - B, then B + step),
        // lq(B) precomputed between frames (B changes only after a frame): net_in_valid 3 cycles
        // after feat_valid (2 before the timing work). Values unchanged (docs/trigger_features.md).
        // One lane per change energy: R lanes of E (v2), 2R lanes of E then E2 (v3), each with its
        // own baseline; a lane's valid flag is evalid (E) or e2valid (E2).
        reg [31:0] base [0:NL-1];
        reg [NL-1:0] binit;                // a lane's baseline holds a value
        reg [NL-1:0] s0_ev, s0_binit, s1_ev;
        reg        s0_valid, s1_valid, s2_valid;
        reg [31:0] s0_v  [0:NL-1];         // E
        reg [4:0]  s0_e  [0:NL-1];         // exponent of E
        reg [7:0]  s0_lb [0:NL-1];         // lq(B) (when binit)
        reg signed [32:0] s0_d [0:NL-1];   // E - B
        reg [31:0] pb_v  [0:NL-1];         // B, its exponent, lq(B): 1 and 2 cycles after B changed
        reg [4:0]  pb_e  [0:NL-1];
        reg [7:0]  pb_lq [0:NL-1];
        reg [7:0]  s1_le [0:NL-1];
        reg [7:0]  s1_lb [0:NL-1];
        reg [32*8-1:0] s2_data;
        wire [NL*32-1:0] e_all;
        wire [NL-1:0]    ev_all;
        if (V3) begin : g_lanes3
            assign e_all = {feat_esums2, feat_esums};
            assign ev_all = {{R{feat_e2valid}}, {R{feat_evalid}}};
        end else begin : g_lanes2
            assign e_all = feat_esums;
            assign ev_all = {R{feat_evalid}};
            wire unused_e2 = &{1'b0, feat_esums2, feat_e2valid, 1'b0};
        end
        genvar g;
        for (g = 0; g < NL; g = g + 1) begin : g_reg
            wire [31:0] e_g = e_all[g*32 +: 32];
            wire [7:0] le_g = {s0_e[g], lq_mant(s0_v[g], s0_e[g])};
            wire signed [32:0] bstep = s0_d[g] >>> BSHIFT;
            wire [32:0] b_next = {1'b0, base[g]} + bstep;
            wire unused_bn = &{1'b0, b_next[32], 1'b0};   // b_next <= max(B, E)
            wire signed [9:0] rdiff = $signed({2'b00, s1_le[g]}) - $signed({2'b00, s1_lb[g]});
            wire [7:0] rb_byte = (rdiff > 10'sd127) ? 8'h7F : (rdiff < -10'sd128) ? 8'h80 : rdiff[7:0];
            always @(posedge clk) begin
                pb_v[g] <= base[g];
                pb_e[g] <= lq_exp(base[g]);
                pb_lq[g] <= {pb_e[g], lq_mant(pb_v[g], pb_e[g])};
                if (feat_valid) begin
                    s0_v[g] <= e_g;
                    s0_e[g] <= lq_exp(e_g);
                    s0_lb[g] <= pb_lq[g];
                    s0_d[g] <= $signed({1'b0, e_g}) - $signed({1'b0, base[g]});
                end
                if (s0_valid) begin
                    s1_le[g] <= le_g;
                    s1_lb[g] <= s0_binit[g] ? s0_lb[g] : le_g;  // B := E at the lane's first valid frame
                end
            end
            if (V3) begin : g_pack3                             // v3: [rb(E)[0..R-1], rb(E2)[0..R-1]]
                always @(posedge clk) if (s1_valid) s2_data[8*g +: 8] <= s1_ev[g] ? rb_byte : 8'd0;
            end else begin : g_pack2                            // v2: [le[0..R-1], rb[0..R-1]]
                always @(posedge clk) if (s1_valid) begin
                    s2_data[8*g +: 8] <= s1_ev[g] ? s1_le[g] : 8'd0;
                    s2_data[8*(R+g) +: 8] <= s1_ev[g] ? rb_byte : 8'd0;
                end
            end
            always @(posedge clk) begin
                if (rst) begin
                    base[g] <= 32'd0; binit[g] <= 1'b0; s0_ev[g] <= 1'b0; s0_binit[g] <= 1'b0; s1_ev[g] <= 1'b0;
                end else begin
                    if (s0_valid && s0_ev[g]) base[g] <= s0_binit[g] ? b_next[31:0] : s0_v[g];
                    if (feat_valid) begin s0_ev[g] <= ev_all[g]; s0_binit[g] <= binit[g]; end
                    if (s0_valid) begin
                        s1_ev[g] <= s0_ev[g];
                        if (s0_ev[g]) binit[g] <= 1'b1;
                    end
                end
            end
        end
        always @(posedge clk) begin
            if (rst) begin
                s0_valid <= 1'b0; s1_valid <= 1'b0; s2_valid <= 1'b0;
            end else begin
                s0_valid <= feat_valid;
                s1_valid <= s0_valid;
                s2_valid <= s1_valid;
            end
        end
        assign v2_valid = s2_valid;
        assign v2_data = s2_data;
        assign v1_valid = 1'b0;
        assign v1_data = {32*8{1'b0}};
        wire unused_v1 = &{1'b0, feat_sums, shift, dshift, 1'b0};
    end else begin : g_v1
        integer k;
        reg [31:0] prev [0:R-1];
        reg [4:0]  sh_a, sh_d;             // shifts latched for the frame
        reg        busy, valid_r;
        reg [IW-1:0] idx;
        reg [32*8-1:0] data_r;
        wire [31:0] s_cur = feat_sums[idx*32 +: 32];
        wire [31:0] sh = s_cur >> sh_a;
        wire signed [32:0] df = $signed({1'b0, s_cur}) - $signed({1'b0, prev[idx]});
        wire signed [32:0] dsh = df >>> sh_d;
        wire [7:0] a_byte = (sh > 32'd255) ? 8'hFF : sh[7:0];
        wire [7:0] d_byte = (dsh > 33'sd127) ? 8'h7F : (dsh < -33'sd128) ? 8'h80 : dsh[7:0];
        always @(posedge clk) begin
            if (rst) begin
                for (k = 0; k < R; k = k + 1) prev[k] <= 32'd0;
                valid_r <= 1'b0; data_r <= {32*8{1'b0}};
                busy <= 1'b0; idx <= {IW{1'b0}}; sh_a <= 5'd0; sh_d <= 5'd0;
            end else begin
                valid_r <= 1'b0;
                if (feat_valid) begin
                    busy <= 1'b1; idx <= {IW{1'b0}};
                    sh_a <= shift; sh_d <= dshift;
                end else if (busy) begin
                    data_r[8*idx +: 8] <= a_byte;
                    data_r[8*(16+idx) +: 8] <= d_byte;
                    prev[idx] <= s_cur;
                    idx <= idx + 1'b1;
                    if (idx == IDX_LAST) begin
                        busy <= 1'b0; valid_r <= 1'b1;
                    end
                end
            end
        end
        assign v1_valid = valid_r;
        assign v1_data = data_r;
        assign v2_valid = 1'b0;
        assign v2_data = {32*8{1'b0}};
        wire unused_v2 = &{1'b0, feat_esums, feat_evalid, feat_esums2, feat_e2valid, 1'b0};
    end endgenerate

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
