// frame_ingest: AXI-Stream detector pixels in (tuser = start of frame, tlast = end of line),
// pixels with their (x, y) position out; counts good frames and malformed ones.
//
// A frame is W pixels x H lines. Errors (each counted once, sticky flag, frame dropped):
//   SHORT_LINE  tlast before pixel W-1      LONG_LINE   no tlast on pixel W-1
//   SHORT_FRAME tuser (new frame) while a frame is still in progress (the new frame starts)
//   NO_SOF      pixels outside a frame (e.g. extra lines after a full frame)
// The offending pixel and the rest of an aborted frame are not forwarded (downstream never
// sees the frame's last pixel, so no features are emitted for it). Never hangs: tready
// follows m_axis_tready only, whatever the input; the next tuser always starts afresh.
// m_axis_tuser = {last pixel of frame, first pixel of frame}; m_axis_tlast = end of line.
`default_nettype none
module frame_ingest #(
    parameter integer W = 64,
    parameter integer H = 64,
    parameter integer PIX_W = 16,
    parameter integer XW = (W > 1) ? $clog2(W) : 1,
    parameter integer YW = (H > 1) ? $clog2(H) : 1
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [PIX_W-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    input  wire             s_axis_tuser,
    input  wire             s_axis_tlast,
    output wire [PIX_W-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready,
    output wire [1:0]       m_axis_tuser,
    output wire             m_axis_tlast,
    output wire [XW-1:0]    m_axis_x,
    output wire [YW-1:0]    m_axis_y,
    output reg  [31:0]      pixels,        // pixels accepted on s_axis since reset (good or not)
    output reg  [31:0]      frames,        // complete, well-formed frames since reset
    output reg  [31:0]      errors,        // malformed-frame events since reset
    output reg              error_flag,    // sticky
    output reg  [2:0]       last_error     // 1 SHORT_LINE, 2 LONG_LINE, 3 SHORT_FRAME, 4 NO_SOF
);
    localparam integer XL = W - 1;
    localparam integer YL = H - 1;
    localparam [XW-1:0] X_LAST = XL[XW-1:0];
    localparam [YW-1:0] Y_LAST = YL[YW-1:0];
    reg [XW-1:0] x;
    reg [YW-1:0] y;
    reg in_frame, skipping;

    wire          sof = s_axis_tuser;
    wire          in_px = sof || in_frame;
    wire [XW-1:0] cx = sof ? {XW{1'b0}} : x;
    wire [YW-1:0] cy = sof ? {YW{1'b0}} : y;
    wire          short_line = in_px && s_axis_tlast && (cx != X_LAST);
    wire          long_line = in_px && !s_axis_tlast && (cx == X_LAST);
    wire          pix_ok = in_px && !short_line && !long_line;
    wire          eof = pix_ok && s_axis_tlast && (cy == Y_LAST);
    wire          hs = s_axis_tvalid && s_axis_tready;

    assign s_axis_tready = m_axis_tready;
    assign m_axis_tvalid = s_axis_tvalid && pix_ok;
    assign m_axis_tdata = s_axis_tdata;
    assign m_axis_tuser = {eof, sof};
    assign m_axis_tlast = s_axis_tlast;
    assign m_axis_x = cx;
    assign m_axis_y = cy;

    reg [2:0] err;
    always @(*) begin
        err = 3'd0;
        if (sof && in_frame) err = 3'd3;
        else if (short_line) err = 3'd1;
        else if (long_line) err = 3'd2;
        else if (!in_px && !skipping) err = 3'd4;
    end

    always @(posedge clk) begin
        if (rst) begin
            x <= {XW{1'b0}}; y <= {YW{1'b0}}; in_frame <= 1'b0; skipping <= 1'b0;
            frames <= 32'd0; errors <= 32'd0; error_flag <= 1'b0; last_error <= 3'd0; pixels <= 32'd0;
        end else if (hs) begin
            pixels <= pixels + 1'b1;
            if (err != 3'd0) begin
                errors <= errors + 1'b1; error_flag <= 1'b1; last_error <= err;
                // SHORT_FRAME still counts one more error if the new frame's first pixel is bad
                if (err == 3'd3 && (short_line || long_line)) errors <= errors + 32'd2;
            end
            if (!pix_ok) begin
                in_frame <= 1'b0;
                skipping <= 1'b1;
            end else if (eof) begin
                in_frame <= 1'b0; skipping <= 1'b0; frames <= frames + 1'b1;
            end else begin
                in_frame <= 1'b1; skipping <= 1'b0;
                if (s_axis_tlast) begin x <= {XW{1'b0}}; y <= cy + 1'b1; end
                else begin x <= cx + 1'b1; y <= cy; end
            end
        end
    end
endmodule
`default_nettype wire
