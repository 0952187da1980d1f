// uart_tx: 8N1 UART transmitter with a valid/ready byte input.
`default_nettype none
module uart_tx #(
    parameter integer CLKS_PER_BIT = 868
) (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] s_data,
    input  wire       s_valid,
    output wire       s_ready,
    output reg        tx
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    localparam integer LAST_I = CLKS_PER_BIT - 1;
    localparam [CW-1:0] LAST = LAST_I[CW-1:0];
    reg [9:0]    shift;    // {stop, data[7:0], start}
    reg [3:0]    nbits;    // bits left to send
    reg [CW-1:0] cnt;
    assign s_ready = (nbits == 4'd0);

    always @(posedge clk) begin
        if (rst) begin
            shift <= 10'h3FF; nbits <= 4'd0; cnt <= {CW{1'b0}}; tx <= 1'b1;
        end else if (nbits == 4'd0) begin
            tx <= 1'b1;
            if (s_valid) begin
                shift <= {1'b1, s_data, 1'b0};
                nbits <= 4'd10;
                cnt <= {CW{1'b0}};
            end
        end else begin
            tx <= shift[0];
            if (cnt == LAST) begin
                cnt <= {CW{1'b0}};
                shift <= {1'b1, shift[9:1]};
                nbits <= nbits - 1'b1;
            end else cnt <= cnt + 1'b1;
        end
    end
endmodule
`default_nettype wire
