// trigger_net_placeholder -- PLACEHOLDER, NOT THE TRAINED NETWORK.
// Same ports as the da4ml-generated `trigger_net` (firmware/rtl/trigger_net.v, from hls/):
// 32 8-bit inputs (input 0 in the least significant byte; v2: 0..15 unsigned le[k], 16..31
// signed rb[k]; v3: 0..15 rb[k], 16..31 rb2[k], all signed), one signed score, fixed LATENCY.
// Its fixed linear score is score = sum of the signed bytes 16..31 (v2: rb[k]; v3: rb2[k],
// change energies against their running baselines, log2 units), so the
// trigger path can be built and tested end to end before the real network exists.
// trigger_core uses it unless BEAMLOOP_TRIGGER_NET_REAL is defined.
`default_nettype none
module trigger_net_placeholder #(
    parameter integer OUT_W = 16
) (
    input  wire                    clk,
    input  wire                    in_valid,
    input  wire [32*8-1:0]         in_data,
    output wire                    out_valid,
    output wire signed [OUT_W-1:0] out_data
);
    /* verilator lint_off UNUSEDPARAM */
    localparam integer LATENCY = 2;   // cycles from in_valid to out_valid
    /* verilator lint_on UNUSEDPARAM */
    reg signed [OUT_W-1:0] part0, part1, sum;
    reg v1, v2;
    reg signed [OUT_W-1:0] acc0, acc1;
    integer k;
    always @(*) begin
        acc0 = {OUT_W{1'b0}}; acc1 = {OUT_W{1'b0}};
        for (k = 16; k < 24; k = k + 1) acc0 = acc0 + {{(OUT_W-8){in_data[8*k+7]}}, in_data[8*k +: 8]};
        for (k = 24; k < 32; k = k + 1) acc1 = acc1 + {{(OUT_W-8){in_data[8*k+7]}}, in_data[8*k +: 8]};
    end
    always @(posedge clk) begin
        part0 <= acc0; part1 <= acc1; v1 <= in_valid;
        sum <= part0 + part1; v2 <= v1;
    end
    assign out_valid = v2;
    assign out_data = sum;
    wire unused = &{1'b0, in_data[127:0], 1'b0};
endmodule
`default_nettype wire
