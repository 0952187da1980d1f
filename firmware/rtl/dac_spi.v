// dac_spi: streams the DAC output registers to an octal 16-bit SPI DAC (AD5676-style
// 24-bit frames: command 4'b0011 = write and update channel, 4-bit address, 16-bit data,
// MSB first; data changes with SCLK rising and is sampled by the DAC on SCLK falling;
// SYNC_n low for the 24 bits). Channels are refreshed round robin without pause, so the
// analogue outputs follow dac_limiter's registers within NCH frames. Portable: the board
// wrapper only connects the three pins.
`default_nettype none
module dac_spi #(
    parameter integer NCH = 8,
    parameter integer DW = 16,
    parameter integer SCLK_DIV = 2            // SCLK period = 2*SCLK_DIV clock cycles
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [NCH*DW-1:0] values,
    output reg               sclk,
    output reg               sync_n,
    output reg               mosi,
    output reg  [3:0]        last_channel      // channel of the frame in progress
);
    localparam integer CW = (SCLK_DIV > 1) ? $clog2(SCLK_DIV) : 1;
    localparam integer DL = SCLK_DIV - 1;
    localparam [CW-1:0] DIV_LAST = DL[CW-1:0];
    localparam integer NL = NCH - 1;
    localparam [3:0] CH_LAST = NL[3:0];
    reg [CW-1:0] div;
    reg [23:0]   shift;
    reg [4:0]    nbit;       // bits left in frame
    reg [3:0]    ch;
    reg          gap;        // one idle half-period with SYNC_n high between frames
    wire [15:0]  word = values[ch*DW +: DW] << (16 - DW);

    always @(posedge clk) begin
        if (rst) begin
            div <= {CW{1'b0}}; shift <= 24'd0; nbit <= 5'd0; ch <= 4'd0; gap <= 1'b1;
            sclk <= 1'b0; sync_n <= 1'b1; mosi <= 1'b0; last_channel <= 4'd0;
        end else if (div != DIV_LAST) begin
            div <= div + 1'b1;
        end else begin
            div <= {CW{1'b0}};
            if (gap) begin                     // start a frame: SYNC_n falls, first bit out
                gap <= 1'b0;
                sync_n <= 1'b0;
                mosi <= 1'b0;                      // frame[23] = command bit 3 = 0
                shift <= {3'b011, ch, word, 1'b0}; // frame << 1
                nbit <= 5'd24;
                last_channel <= ch;
                sclk <= 1'b1;
            end else if (sclk) begin           // falling edge: the DAC samples mosi
                if (nbit == 5'd0) begin
                    sync_n <= 1'b1; gap <= 1'b1;
                    ch <= (ch == CH_LAST) ? 4'd0 : ch + 1'b1;
                end else begin
                    sclk <= 1'b0;
                    nbit <= nbit - 1'b1;
                end
            end else begin                     // rising edge: present the next bit
                sclk <= 1'b1;
                mosi <= shift[23];
                shift <= {shift[22:0], 1'b0};
            end
        end
    end
endmodule
`default_nettype wire
