// uart_rx: 8N1 UART receiver. One byte per m_valid pulse; a missing stop bit drops the byte
// and pulses frame_err. rx is synchronised with two flip-flops (asynchronous input).
`default_nettype none
module uart_rx #(
    parameter integer CLKS_PER_BIT = 868   // clock cycles per bit (100 MHz / 115200 baud)
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rx,
    output reg  [7:0] m_data,
    output reg        m_valid,
    output reg        frame_err
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    localparam integer LAST_I = CLKS_PER_BIT - 1;
    localparam integer HALF_I = CLKS_PER_BIT / 2 - 1;
    localparam [CW-1:0] LAST = LAST_I[CW-1:0];
    localparam [CW-1:0] HALF = HALF_I[CW-1:0];
    localparam [1:0] S_IDLE = 2'd0, S_START = 2'd1, S_DATA = 2'd2, S_STOP = 2'd3;
    reg [1:0]    rx_sync;
    reg [1:0]    state;
    reg [CW-1:0] cnt;
    reg [2:0]    bitn;
    reg [7:0]    shift;
    wire rxs = rx_sync[1];

    always @(posedge clk) begin
        if (rst) begin
            rx_sync <= 2'b11; state <= S_IDLE; cnt <= {CW{1'b0}}; bitn <= 3'd0;
            shift <= 8'd0; m_data <= 8'd0; m_valid <= 1'b0; frame_err <= 1'b0;
        end else begin
            rx_sync <= {rx_sync[0], rx};
            m_valid <= 1'b0;
            frame_err <= 1'b0;
            case (state)
                S_IDLE: if (!rxs) begin state <= S_START; cnt <= {CW{1'b0}}; end
                S_START: begin   // sample the middle of the start bit
                    if (cnt == HALF) begin
                        cnt <= {CW{1'b0}};
                        if (!rxs) begin state <= S_DATA; bitn <= 3'd0; end
                        else state <= S_IDLE;          // glitch, not a start bit
                    end else cnt <= cnt + 1'b1;
                end
                S_DATA: begin
                    if (cnt == LAST) begin
                        cnt <= {CW{1'b0}};
                        shift <= {rxs, shift[7:1]};      // LSB first
                        if (bitn == 3'd7) state <= S_STOP;
                        bitn <= bitn + 1'b1;
                    end else cnt <= cnt + 1'b1;
                end
                default: begin   // S_STOP
                    if (cnt == LAST) begin
                        cnt <= {CW{1'b0}};
                        state <= S_IDLE;
                        if (rxs) begin m_data <= shift; m_valid <= 1'b1; end
                        else frame_err <= 1'b1;
                    end else cnt <= cnt + 1'b1;
                end
            endcase
        end
    end
endmodule
`default_nettype wire
