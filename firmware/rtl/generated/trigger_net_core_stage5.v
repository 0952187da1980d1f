`timescale 1 ns / 1 ps

module trigger_net_core_stage5 (
    input [138:0] model_inp,
    output [42:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [7:0] v0; assign v0[7:0] = 'b11111111;
    wire [10:0] v1; assign v1[10:0] = model_inp[10:0];
    wire [10:0] v2; assign v2[10:0] = model_inp[21:11];
    wire [7:0] v3; mux #(11, 8, 0, 0, 8, 0, 0) op_3 (v2[10], v1[10:0], v0[7:0], v3[7:0]);
    wire [7:0] v4; assign v4[7:0] = 'b11111111;
    wire [10:0] v5; assign v5[10:0] = model_inp[32:22];
    wire [11:0] v6; assign v6[11:0] = model_inp[44:33];
    wire [7:0] v7; mux #(11, 8, 0, 0, 8, 0, 0) op_7 (v6[11], v5[10:0], v4[7:0], v7[7:0]);
    wire [7:0] v8; assign v8[7:0] = model_inp[52:45];
    wire [12:0] v9; assign v9[12:0] = model_inp[65:53];
    wire [14:0] v10; shift_adder #(8, 13, 0, 0, 15, -6, 0) op_10 (v8[7:0], v9[12:0], v10[14:0]);
    wire [7:0] v11; assign v11[7:0] = 'b11111111;
    wire [9:0] v12; assign v12[9:0] = model_inp[75:66];
    wire [10:0] v13; assign v13[10:0] = model_inp[86:76];
    wire [7:0] v14; mux #(10, 8, 0, 0, 8, 0, 0) op_14 (v13[10], v12[9:0], v11[7:0], v14[7:0]);
    wire [16:0] v15; assign v15[16:0] = model_inp[103:87];
    wire [12:0] v16; assign v16[12:0] = model_inp[116:104];
    wire [16:0] v17; shift_adder #(17, 13, 1, 1, 17, 0, 1) op_17 (v15[16:0], v16[12:0], v17[16:0]);
    wire [16:0] v18; shift_adder #(17, 6, 1, 0, 17, 0, 0) op_18 (v17[16:0], 6'b101111, v18[16:0]);
    wire [15:0] v19; assign v19[15:0] = v18[15:0] & {16{~v18[16]}};
    wire [9:0] v20; assign v20[9:0] = v19[15:6];
    wire [9:0] v21; shift_adder #(10, 8, 0, 0, 10, 0, 1) op_21 (v20[9:0], 8'b11111111, v21[9:0]);
    wire [11:0] v22; shift_adder #(8, 8, 0, 0, 12, -3, 1) op_22 (v8[7:0], v8[7:0], v22[11:0]);
    wire [7:0] v23; assign v23[7:0] = 'b11111111;
    wire [10:0] v24; assign v24[10:0] = model_inp[127:117];
    wire [10:0] v25; assign v25[10:0] = model_inp[138:128];
    wire [7:0] v26; mux #(11, 8, 0, 0, 8, 0, 0) op_26 (v25[10], v24[10:0], v23[7:0], v26[7:0]);
    wire [9:0] v27; shift_adder #(8, 8, 0, 0, 10, 1, 1) op_27 (v3[7:0], v7[7:0], v27[9:0]);
    wire [7:0] v28; assign v28[7:0] = 'b11111111;
    wire [7:0] v29; mux #(10, 8, 0, 0, 8, 0, 0) op_29 (v21[9], v20[9:0], v28[7:0], v29[7:0]);
    wire [12:0] v30; shift_adder #(12, 8, 1, 0, 13, -1, 1) op_30 (v22[11:0], v26[7:0], v30[12:0]);
    wire [15:0] v31; shift_adder #(10, 15, 1, 0, 16, -2, 1) op_31 (v27[9:0], v10[14:0], v31[15:0]);
    wire [9:0] v32; shift_adder #(8, 8, 0, 0, 10, 1, 1) op_32 (v14[7:0], v29[7:0], v32[9:0]);
    wire [11:0] v33; shift_adder #(10, 10, 1, 1, 12, -1, 1) op_33 (v32[9:0], v27[9:0], v33[11:0]);
    wire [14:0] v34; shift_adder #(13, 10, 1, 1, 15, 4, 0) op_34 (v30[12:0], v32[9:0], v34[14:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[15:0] = v31[15:0];
    assign model_out[27:16] = v33[11:0];
    assign model_out[42:28] = v34[14:0];

endmodule
