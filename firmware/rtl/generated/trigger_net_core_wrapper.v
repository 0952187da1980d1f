`timescale 1 ns / 1 ps

module trigger_net_core_wrapper (
   input clk,
    // verilator lint_off UNUSEDSIGNAL
    input [287:0] model_inp,
    // verilator lint_on UNUSEDSIGNAL
    output [16:0] model_out
);
    wire [255:0] packed_inp;
    wire [16:0] packed_out;

    assign packed_inp[7:0] = model_inp[7:0];
    assign packed_inp[15:8] = model_inp[16:9];
    assign packed_inp[23:16] = model_inp[25:18];
    assign packed_inp[31:24] = model_inp[34:27];
    assign packed_inp[39:32] = model_inp[43:36];
    assign packed_inp[47:40] = model_inp[52:45];
    assign packed_inp[55:48] = model_inp[61:54];
    assign packed_inp[63:56] = model_inp[70:63];
    assign packed_inp[71:64] = model_inp[79:72];
    assign packed_inp[79:72] = model_inp[88:81];
    assign packed_inp[87:80] = model_inp[97:90];
    assign packed_inp[95:88] = model_inp[106:99];
    assign packed_inp[103:96] = model_inp[115:108];
    assign packed_inp[111:104] = model_inp[124:117];
    assign packed_inp[119:112] = model_inp[133:126];
    assign packed_inp[127:120] = model_inp[142:135];
    assign packed_inp[135:128] = model_inp[151:144];
    assign packed_inp[143:136] = model_inp[160:153];
    assign packed_inp[151:144] = model_inp[169:162];
    assign packed_inp[159:152] = model_inp[178:171];
    assign packed_inp[167:160] = model_inp[187:180];
    assign packed_inp[175:168] = model_inp[196:189];
    assign packed_inp[183:176] = model_inp[205:198];
    assign packed_inp[191:184] = model_inp[214:207];
    assign packed_inp[199:192] = model_inp[223:216];
    assign packed_inp[207:200] = model_inp[232:225];
    assign packed_inp[215:208] = model_inp[241:234];
    assign packed_inp[223:216] = model_inp[250:243];
    assign packed_inp[231:224] = model_inp[259:252];
    assign packed_inp[239:232] = model_inp[268:261];
    assign packed_inp[247:240] = model_inp[277:270];
    assign packed_inp[255:248] = model_inp[286:279];

    trigger_net_core op (
        .clk(clk),
        .model_inp(packed_inp),
        .model_out(packed_out)
    );

    assign model_out[16:0] = packed_out[16:0];

endmodule
