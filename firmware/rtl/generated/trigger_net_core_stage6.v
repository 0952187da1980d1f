`timescale 1 ns / 1 ps

module trigger_net_core_stage6 (
    input [42:0] model_inp,
    output [16:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [15:0] v0; assign v0[15:0] = model_inp[15:0];
    wire [11:0] v1; assign v1[11:0] = model_inp[27:16];
    wire [15:0] v2; shift_adder #(16, 12, 1, 1, 16, 0, 0) op_2 (v0[15:0], v1[11:0], v2[15:0]);
    wire [14:0] v3; assign v3[14:0] = model_inp[42:28];
    wire [16:0] v4; shift_adder #(15, 12, 1, 1, 17, 5, 1) op_4 (v3[14:0], v1[11:0], v4[16:0]);
    wire [16:0] v5; shift_adder #(16, 17, 1, 1, 17, 0, 0) op_5 (v2[15:0], v4[16:0], v5[16:0]);
    wire [16:0] v6; shift_adder #(17, 6, 1, 0, 17, 0, 0) op_6 (v5[16:0], 6'b100011, v6[16:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[16:0] = v6[16:0];

endmodule
