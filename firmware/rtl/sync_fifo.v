// sync_fifo: single-clock FIFO, first-word fall-through (m_data is the head while !empty).
// A push when full is dropped and sets the sticky overflow flag (never stalls the writer).
`default_nettype none
module sync_fifo #(
    parameter integer WIDTH = 96,
    parameter integer DEPTH = 8            // power of two
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [WIDTH-1:0] s_data,
    input  wire             s_valid,
    output wire [WIDTH-1:0] m_data,
    output wire             m_valid,
    input  wire             m_pop,
    output reg  [7:0]       count,
    output reg              overflow
);
    localparam integer AW = $clog2(DEPTH);
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] rd, wr;
    localparam [7:0] DEPTH8 = DEPTH[7:0];
    wire full = (count == DEPTH8);
    wire do_pop = m_pop && (count != 8'd0);
    wire do_push = s_valid && (!full || do_pop);
    assign m_valid = (count != 8'd0);
    assign m_data = mem[rd];

    always @(posedge clk) begin
        if (rst) begin
            rd <= {AW{1'b0}}; wr <= {AW{1'b0}}; count <= 8'd0; overflow <= 1'b0;
        end else begin
            if (do_push) begin mem[wr] <= s_data; wr <= wr + 1'b1; end
            if (do_pop) rd <= rd + 1'b1;
            if (s_valid && !do_push) overflow <= 1'b1;
            count <= count + {7'd0, do_push} - {7'd0, do_pop};
        end
    end
endmodule
`default_nettype wire
