`timescale 1 ns / 1 ps

module trigger_net_core_wrapper (
   input clk,
    // verilator lint_off UNUSEDSIGNAL
    input [255:0] model_inp,
    // verilator lint_on UNUSEDSIGNAL
    output [18:0] model_out
);
    wire [255:0] packed_inp;
    wire [18:0] packed_out;

    assign packed_inp[255:0] = model_inp[255:0];

    trigger_net_core op (
        .clk(clk),
        .model_inp(packed_inp),
        .model_out(packed_out)
    );

    assign model_out[18:0] = packed_out[18:0];

endmodule
