`timescale 1 ns / 1 ps

module trigger_net_core_stage3 (
    input [72:0] model_inp,
    output [18:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [7:0] v0; assign v0[7:0] = model_inp[7:0];
    wire [12:0] v1; assign v1[12:0] = model_inp[20:8];
    wire [13:0] v2; shift_adder #(8, 13, 0, 1, 14, 1, 1) op_2 (v0[7:0], v1[12:0], v2[13:0]);
    wire [14:0] v3; assign v3[14:0] = model_inp[35:21];
    wire [14:0] v4; assign v4[14:0] = model_inp[50:36];
    wire [15:0] v5; shift_adder #(15, 15, 1, 1, 16, 0, 0) op_5 (v3[14:0], v4[14:0], v5[15:0]);
    wire [7:0] v6; assign v6[7:0] = model_inp[58:51];
    wire [13:0] v7; shift_adder #(8, 14, 0, 1, 14, -1, 0) op_7 (v6[7:0], v2[13:0], v7[13:0]);
    wire [13:0] v8; assign v8[13:0] = model_inp[72:59];
    wire [17:0] v9; shift_adder #(16, 14, 1, 0, 18, 3, 1) op_9 (v5[15:0], v8[13:0], v9[17:0]);
    wire [18:0] v10; shift_adder #(14, 18, 1, 1, 19, -4, 0) op_10 (v7[13:0], v9[17:0], v10[18:0]);
    wire [18:0] v11; shift_adder #(19, 14, 1, 1, 19, 2, 1) op_11 (v10[18:0], v7[13:0], v11[18:0]);
    wire [18:0] v12; shift_adder #(19, 10, 1, 0, 19, 0, 1) op_12 (v11[18:0], 10'b1001011001, v12[18:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[18:0] = v12[18:0];

endmodule
