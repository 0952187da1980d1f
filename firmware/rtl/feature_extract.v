// feature_extract: per-frame region sums S[k], total T and first moments MX, MY computed on
// the fly while pixels stream (docs/trigger_features.md). Emitted for one cycle
// (m_feat_valid) after the frame's last pixel (latency below); frames that never reach their
// last pixel (dropped by frame_ingest) emit nothing.
// Region map: RB-bit region id per pixel (address y*W + x), NONE = all ones (ids >= R are
// never summed). Loaded from MAP_FILE ($readmemh) and writable at run time (map_we).
// Change energy E[k] = sum over region k of |I - I_ref| (I_ref = the same pixel of the previous
// frame, from a W*H x PIX_W frame buffer written as pixels pass, read before write); valid
// (m_feat_evalid) only when the previous frame reached feature_extract complete (its last
// pixel arrived), else 0: a frame dropped by frame_ingest leaves a partly overwritten buffer.
// Pipeline: stage 1 map + frame-buffer read, (x-CX)*I, (y-CY)*I products; stage 1r block RAM
// outputs registered (timing); stage 1b pix - ref and ref - pix; stage 1c |I - I_ref| picked and
// registered (timing: it fans out to every region's accumulator); stage 2 accumulated; stage 3 emit
// (features 6 cycles after the last pixel; 4 before the ECP5 timing work, 5 before session 7).
// E2 = 1 (features v3) adds the change energy against two frames back, E2[k] = sum |I - I_ref2|:
// a second frame buffer fed with the first one's read-out (I_ref, 2 cycles later, at that pixel's
// address), so it holds frame t-2 while frame t passes; valid (m_feat_e2valid) only when the two
// frames before were both complete. Same latency; E2 = 0 builds no second buffer (outputs 0).
// Never stalls (s_axis_tready = 1).
`default_nettype none
module feature_extract #(
    parameter integer W = 64,
    parameter integer H = 64,
    parameter integer PIX_W = 16,
    parameter integer R = 16,
    parameter integer RB = 5,
    parameter integer CX = W / 2,
    parameter integer CY = H / 2,
    parameter integer XW = (W > 1) ? $clog2(W) : 1,
    parameter integer YW = (H > 1) ? $clog2(H) : 1,
    parameter integer AW = $clog2(W * H),
    parameter integer E2 = 0,                   // 1: also E2[k] against two frames back (features v3)
    parameter MAP_FILE = "region_map_64x64.hex"
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [PIX_W-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    input  wire [1:0]       s_axis_tuser,     // {last pixel of frame, first pixel of frame}
    input  wire [XW-1:0]    s_axis_x,
    input  wire [YW-1:0]    s_axis_y,
    input  wire             map_we,
    input  wire [AW-1:0]    map_addr,
    input  wire [RB-1:0]    map_data,
    output reg              m_feat_valid,
    output reg  [R*32-1:0]  m_feat_sums,      // S[k] at [k*32 +: 32]
    output reg  [R*32-1:0]  m_feat_esums,     // E[k] at [k*32 +: 32] (0 when !m_feat_evalid)
    output reg              m_feat_evalid,    // E[k] computed against a complete previous frame
    output wire [R*32-1:0]  m_feat_esums2,    // E2[k] (E2 = 1; 0 when !m_feat_e2valid)
    output wire             m_feat_e2valid,   // E2[k] computed against two complete previous frames
    output reg  [31:0]      m_feat_total,
    output reg  signed [47:0] m_feat_mx,
    output reg  signed [47:0] m_feat_my,
    output reg  [31:0]      m_feat_frame      // index of this frame among emitted frames
);
    localparam integer PW = PIX_W + XW + 2;     // product width
    localparam integer PW2 = PIX_W + YW + 2;
    reg [RB-1:0] rmap [0:W*H-1];
    initial $readmemh(MAP_FILE, rmap);
    reg [PIX_W-1:0] fbuf [0:W*H-1];            // previous frame (block RAM, read before write)

    assign s_axis_tready = 1'b1;
    wire [AW-1:0] addr = s_axis_y * W[AW-1:0] + {{(AW-XW){1'b0}}, s_axis_x};

    // stage 1
    reg              p1_valid, p1_sof, p1_eof;
    reg [PIX_W-1:0]  p1_pix, p1_ref;
    reg [AW-1:0]     p1_addr;
    reg [RB-1:0]     p1_reg;
    reg signed [PW-1:0]  p1_px;
    reg signed [PW2-1:0] p1_py;
    localparam signed [XW+1:0] CXS = CX[XW+1:0];
    localparam signed [YW+1:0] CYS = CY[YW+1:0];
    wire signed [XW+1:0] dx = $signed({2'b00, s_axis_x}) - CXS;
    wire signed [YW+1:0] dy = $signed({2'b00, s_axis_y}) - CYS;
    wire signed [PIX_W:0] spix = $signed({1'b0, s_axis_tdata});
    always @(posedge clk) begin
        if (map_we) rmap[map_addr] <= map_data;
        p1_reg <= rmap[addr];
        if (s_axis_tvalid) fbuf[addr] <= s_axis_tdata;
        p1_ref <= fbuf[addr];
        p1_pix <= s_axis_tdata;
        p1_addr <= addr;
        p1_px <= spix * dx;
        p1_py <= spix * dy;
        if (rst) begin
            p1_valid <= 1'b0; p1_sof <= 1'b0; p1_eof <= 1'b0;
        end else begin
            p1_valid <= s_axis_tvalid;
            p1_sof <= s_axis_tuser[0];
            p1_eof <= s_axis_tuser[1];
        end
    end

    // stage 1r: the block RAM outputs registered with nothing in between (ECP5 DP16KD
    // clock-to-out is ~5.6 ns: any logic behind it misses 100 MHz); everything else delayed
    reg              r_valid, r_sof, r_eof;
    reg [PIX_W-1:0]  r_pix, r_ref;
    reg [AW-1:0]     r_addr;
    reg [RB-1:0]     r_reg;
    reg signed [PW-1:0]  r_px;
    reg signed [PW2-1:0] r_py;
    always @(posedge clk) begin
        r_pix <= p1_pix; r_ref <= p1_ref; r_addr <= p1_addr; r_reg <= p1_reg; r_px <= p1_px; r_py <= p1_py;
        if (rst) begin
            r_valid <= 1'b0; r_sof <= 1'b0; r_eof <= 1'b0;
        end else begin
            r_valid <= p1_valid; r_sof <= p1_sof; r_eof <= p1_eof;
        end
    end

    // stage 1b: absolute change against the reference frame; products and flags delayed
    reg              q_valid, q_sof, q_eof;
    reg [PIX_W-1:0]  q_pix;
    reg [PIX_W:0]    q_dpos;           // pix - ref (PIX_W+1 bits, two's complement)
    reg [PIX_W-1:0]  q_dneg;           // ref - pix (used when pix < ref)
    reg [RB-1:0]     q_reg;
    reg signed [PW-1:0]  q_px;
    reg signed [PW2-1:0] q_py;
    always @(posedge clk) begin
        q_pix <= r_pix; q_reg <= r_reg; q_px <= r_px; q_py <= r_py;
        // |pix - ref| in two halves for timing (ECP5: block RAM clock-to-out, then one carry
        // chain per stage): both differences here, the non-negative one picked in stage 2
        q_dpos <= {1'b0, r_pix} - {1'b0, r_ref};
        q_dneg <= r_ref - r_pix;
        if (rst) begin
            q_valid <= 1'b0; q_sof <= 1'b0; q_eof <= 1'b0;
        end else begin
            q_valid <= r_valid; q_sof <= r_sof; q_eof <= r_eof;
        end
    end

    // stage 1c: |pix - ref| picked and registered with everything the accumulators need
    wire [PIX_W-1:0] q_adiff = q_dpos[PIX_W] ? q_dneg : q_dpos[PIX_W-1:0];
    reg              s_valid, s_sof, s_eof;
    reg [PIX_W-1:0]  s_pix, s_adiff;
    reg [RB-1:0]     s_reg;
    reg signed [PW-1:0]  s_px;
    reg signed [PW2-1:0] s_py;
    always @(posedge clk) begin
        s_pix <= q_pix; s_adiff <= q_adiff; s_reg <= q_reg; s_px <= q_px; s_py <= q_py;
        if (rst) begin
            s_valid <= 1'b0; s_sof <= 1'b0; s_eof <= 1'b0;
        end else begin
            s_valid <= q_valid; s_sof <= q_sof; s_eof <= q_eof;
        end
    end

    // stage 2: accumulate
    reg [31:0] S [0:R-1];
    reg [31:0] E [0:R-1];
    reg ref_ok;      // the frame buffer holds one complete frame (the last one that ended)
    reg cur_ref_ok;  // ... latched at the start of the present frame
    reg ref2_ok;     // the second buffer holds the frame before that one, complete (E2)
    reg cur_ref2_ok;
    reg [31:0] T;
    reg signed [47:0] MX, MY;
    reg p2_eof;
    integer k;
    always @(posedge clk) begin
        if (rst) begin
            for (k = 0; k < R; k = k + 1) begin S[k] <= 32'd0; E[k] <= 32'd0; end
            T <= 32'd0; MX <= 48'sd0; MY <= 48'sd0; p2_eof <= 1'b0;
            ref_ok <= 1'b0; cur_ref_ok <= 1'b0; ref2_ok <= 1'b0; cur_ref2_ok <= 1'b0;
        end else begin
            p2_eof <= s_valid && s_eof;
            if (s_valid) begin
                for (k = 0; k < R; k = k + 1)
                    if (s_sof) begin
                        S[k] <= (s_reg == k[RB-1:0]) ? {{(32-PIX_W){1'b0}}, s_pix} : 32'd0;
                        E[k] <= (s_reg == k[RB-1:0]) ? {{(32-PIX_W){1'b0}}, s_adiff} : 32'd0;
                    end else if (s_reg == k[RB-1:0]) begin
                        S[k] <= S[k] + {{(32-PIX_W){1'b0}}, s_pix};
                        E[k] <= E[k] + {{(32-PIX_W){1'b0}}, s_adiff};
                    end
                T  <= (s_sof ? 32'd0 : T) + {{(32-PIX_W){1'b0}}, s_pix};
                MX <= (s_sof ? 48'sd0 : MX) + {{(48-PW){s_px[PW-1]}}, s_px};
                MY <= (s_sof ? 48'sd0 : MY) + {{(48-PW2){s_py[PW2-1]}}, s_py};
                if (s_sof) begin
                    cur_ref_ok <= ref_ok; ref_ok <= s_eof;
                    cur_ref2_ok <= ref2_ok; ref2_ok <= s_eof && ref_ok;
                end else if (s_eof) begin
                    ref_ok <= 1'b1; ref2_ok <= cur_ref_ok;
                end
            end
        end
    end

    // E2 path (features v3): second frame buffer, |I - I_ref2| in the same stages, accumulated
    // beside E and emitted with it
    generate if (E2 != 0) begin : g_e2
        reg [PIX_W-1:0] fbuf2 [0:W*H-1];       // frame t-2 (block RAM): written with fbuf's read-out
        reg [PIX_W-1:0] p1_ref2, r_ref2;
        reg [PIX_W:0]   q_dpos2;
        reg [PIX_W-1:0] q_dneg2;
        reg [31:0]      E2s [0:R-1];
        reg [R*32-1:0]  out2;
        reg             out2_valid;
        wire [PIX_W-1:0] q_adiff2 = q_dpos2[PIX_W] ? q_dneg2 : q_dpos2[PIX_W-1:0];
        reg [PIX_W-1:0] s_adiff2;                   // stage 1c, as s_adiff
        integer k2;
        always @(posedge clk) begin
            if (r_valid) fbuf2[r_addr] <= r_ref;    // the previous frame's pixel, 2 cycles after its read
            p1_ref2 <= fbuf2[addr];
            r_ref2 <= p1_ref2;
            q_dpos2 <= {1'b0, r_pix} - {1'b0, r_ref2};
            q_dneg2 <= r_ref2 - r_pix;
            s_adiff2 <= q_adiff2;
        end
        always @(posedge clk) begin
            if (rst) begin
                for (k2 = 0; k2 < R; k2 = k2 + 1) E2s[k2] <= 32'd0;
                out2 <= {R*32{1'b0}}; out2_valid <= 1'b0;
            end else begin
                if (s_valid)
                    for (k2 = 0; k2 < R; k2 = k2 + 1)
                        if (s_sof) E2s[k2] <= (s_reg == k2[RB-1:0]) ? {{(32-PIX_W){1'b0}}, s_adiff2} : 32'd0;
                        else if (s_reg == k2[RB-1:0]) E2s[k2] <= E2s[k2] + {{(32-PIX_W){1'b0}}, s_adiff2};
                if (p2_eof) begin
                    for (k2 = 0; k2 < R; k2 = k2 + 1) out2[k2*32 +: 32] <= cur_ref2_ok ? E2s[k2] : 32'd0;
                    out2_valid <= cur_ref2_ok;
                end
            end
        end
        assign m_feat_esums2 = out2;
        assign m_feat_e2valid = out2_valid;
    end else begin : g_no_e2
        assign m_feat_esums2 = {R*32{1'b0}};
        assign m_feat_e2valid = 1'b0;
        wire unused_e2 = &{1'b0, r_addr, cur_ref2_ok, 1'b0};
    end endgenerate

    // stage 3: emit
    integer j;
    always @(posedge clk) begin
        if (rst) begin
            m_feat_valid <= 1'b0; m_feat_sums <= {R*32{1'b0}}; m_feat_total <= 32'd0;
            m_feat_esums <= {R*32{1'b0}}; m_feat_evalid <= 1'b0;
            m_feat_mx <= 48'sd0; m_feat_my <= 48'sd0; m_feat_frame <= 32'd0;
        end else begin
            m_feat_valid <= p2_eof;
            if (p2_eof) begin
                for (j = 0; j < R; j = j + 1) begin
                    m_feat_sums[j*32 +: 32] <= S[j];
                    m_feat_esums[j*32 +: 32] <= cur_ref_ok ? E[j] : 32'd0;
                end
                m_feat_evalid <= cur_ref_ok;
                m_feat_total <= T; m_feat_mx <= MX; m_feat_my <= MY;
            end
            if (m_feat_valid) m_feat_frame <= m_feat_frame + 1'b1;
        end
    end
endmodule
`default_nettype wire
