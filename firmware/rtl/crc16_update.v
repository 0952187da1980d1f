// crc16_update: one byte of CRC-16/IBM-3740 (CCITT-FALSE: poly 0x1021, MSB first,
// no reflection, no final xor). Combinational. Start with 16'hFFFF; running the CRC over a
// payload followed by its own CRC (big-endian) leaves 16'h0000.
`default_nettype none
module crc16_update (
    input  wire [15:0] crc_in,
    input  wire [7:0]  data,
    output wire [15:0] crc_out
);
    function [15:0] step;
        input [15:0] c;
        input [7:0]  d;
        integer i;
        reg [15:0] r;
        begin
            r = c ^ {d, 8'h00};
            for (i = 0; i < 8; i = i + 1)
                r = r[15] ? ({r[14:0], 1'b0} ^ 16'h1021) : {r[14:0], 1'b0};
            step = r;
        end
    endfunction
    assign crc_out = step(crc_in, data);
endmodule
`default_nettype wire
