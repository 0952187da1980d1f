`timescale 1 ns / 1 ps

module trigger_net_core_stage4 (
    input [66:0] model_inp,
    output [17:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [8:0] v0; assign v0[8:0] = model_inp[8:0];
    wire [7:0] v1; assign v1[7:0] = model_inp[16:9];
    wire [15:0] v2; shift_adder #(9, 8, 1, 0, 16, 6, 1) op_2 (v0[8:0], v1[7:0], v2[15:0]);
    wire [10:0] v3; assign v3[10:0] = model_inp[27:17];
    wire [12:0] v4; shift_adder #(9, 11, 1, 0, 13, -2, 0) op_4 (v0[8:0], v3[10:0], v4[12:0]);
    wire [9:0] v5; assign v5[9:0] = model_inp[37:28];
    wire [8:0] v6; assign v6[8:0] = model_inp[46:38];
    wire [11:0] v7; shift_adder #(10, 9, 0, 0, 12, -2, 0) op_7 (v5[9:0], v6[8:0], v7[11:0]);
    wire [8:0] v8; assign v8[8:0] = model_inp[55:47];
    wire [11:0] v9; shift_adder #(10, 9, 0, 1, 12, 1, 0) op_9 (v5[9:0], v8[8:0], v9[11:0]);
    wire [10:0] v10; assign v10[10:0] = model_inp[66:56];
    wire [13:0] v11; shift_adder #(9, 11, 1, 0, 14, -4, 0) op_11 (v8[8:0], v10[10:0], v11[13:0]);
    wire [15:0] v12; shift_adder #(16, 13, 1, 1, 16, 3, 0) op_12 (v2[15:0], v4[12:0], v12[15:0]);
    wire [16:0] v13; shift_adder #(12, 12, 0, 1, 17, 5, 0) op_13 (v7[11:0], v9[11:0], v13[16:0]);
    wire [16:0] v14; shift_adder #(17, 14, 1, 1, 17, 0, 1) op_14 (v13[16:0], v11[13:0], v14[16:0]);
    wire [17:0] v15; shift_adder #(16, 17, 1, 1, 18, 0, 0) op_15 (v12[15:0], v14[16:0], v15[17:0]);
    wire [17:0] v16; shift_adder #(18, 11, 1, 0, 18, 0, 1) op_16 (v15[17:0], 11'b10100000000, v16[17:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[17:0] = v16[17:0];

endmodule
