`timescale 1 ns / 1 ps

module trigger_net_core_stage5 (
    input [47:0] model_inp,
    output [16:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [15:0] v0; assign v0[15:0] = model_inp[15:0];
    wire [15:0] v1; assign v1[15:0] = model_inp[31:16];
    wire [16:0] v2; shift_adder #(16, 16, 1, 1, 17, 0, 0) op_2 (v0[15:0], v1[15:0], v2[16:0]);
    wire [15:0] v3; assign v3[15:0] = model_inp[47:32];
    wire [16:0] v4; shift_adder #(16, 17, 1, 1, 17, -1, 0) op_4 (v3[15:0], v2[16:0], v4[16:0]);
    wire [16:0] v5; shift_adder #(17, 7, 1, 0, 17, 0, 1) op_5 (v4[16:0], 7'b1111111, v5[16:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[16:0] = v5[16:0];

endmodule
