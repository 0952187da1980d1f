`timescale 1 ns / 1 ps

module trigger_net_core_stage2 (
    input [159:0] model_inp,
    output [72:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [7:0] v0; assign v0[7:0] = 'b11111111;
    wire [10:0] v1; assign v1[10:0] = model_inp[10:0];
    wire [11:0] v2; assign v2[11:0] = model_inp[22:11];
    wire [7:0] v3; mux #(11, 8, 0, 0, 8, 0, 0) op_3 (v2[11], v1[10:0], v0[7:0], v3[7:0]);
    wire [7:0] v4; assign v4[7:0] = 'b11111111;
    wire [11:0] v5; assign v5[11:0] = model_inp[34:23];
    wire [12:0] v6; assign v6[12:0] = model_inp[47:35];
    wire [7:0] v7; mux #(12, 8, 0, 0, 8, 0, 0) op_7 (v6[12], v5[11:0], v4[7:0], v7[7:0]);
    wire [7:0] v8; assign v8[7:0] = model_inp[55:48];
    wire [7:0] v9; assign v9[7:0] = model_inp[63:56];
    wire [8:0] v10; shift_adder #(8, 8, 0, 0, 9, 0, 0) op_10 (v8[7:0], v9[7:0], v10[8:0]);
    wire [7:0] v11; assign v11[7:0] = model_inp[71:64];
    wire [7:0] v12; assign v12[7:0] = model_inp[79:72];
    wire [10:0] v13; shift_adder #(8, 8, 0, 0, 11, -2, 1) op_13 (v11[7:0], v12[7:0], v13[10:0]);
    wire [7:0] v14; assign v14[7:0] = model_inp[87:80];
    wire [7:0] v15; assign v15[7:0] = model_inp[95:88];
    wire [8:0] v16; shift_adder #(8, 8, 0, 0, 9, 0, 0) op_16 (v14[7:0], v15[7:0], v16[8:0]);
    wire [7:0] v17; assign v17[7:0] = model_inp[103:96];
    wire [7:0] v18; assign v18[7:0] = model_inp[111:104];
    wire [13:0] v19; shift_adder #(8, 8, 0, 0, 14, -5, 0) op_19 (v17[7:0], v18[7:0], v19[13:0]);
    wire [7:0] v20; assign v20[7:0] = model_inp[119:112];
    wire [8:0] v21; shift_adder #(8, 8, 0, 0, 9, 0, 0) op_21 (v17[7:0], v20[7:0], v21[8:0]);
    wire [7:0] v22; assign v22[7:0] = model_inp[127:120];
    wire [7:0] v23; assign v23[7:0] = model_inp[135:128];
    wire [9:0] v24; shift_adder #(8, 8, 0, 0, 10, 1, 0) op_24 (v22[7:0], v23[7:0], v24[9:0]);
    wire [7:0] v25; assign v25[7:0] = model_inp[143:136];
    wire [7:0] v26; assign v26[7:0] = model_inp[151:144];
    wire [8:0] v27; shift_adder #(8, 8, 0, 0, 9, 0, 0) op_27 (v25[7:0], v26[7:0], v27[8:0]);
    wire [10:0] v28; shift_adder #(8, 8, 0, 0, 11, 2, 0) op_28 (v15[7:0], v26[7:0], v28[10:0]);
    wire [7:0] v29; assign v29[7:0] = model_inp[159:152];
    wire [9:0] v30; shift_adder #(8, 9, 0, 0, 10, -1, 1) op_30 (v29[7:0], v10[8:0], v30[9:0]);
    wire [9:0] v31; shift_adder #(8, 9, 0, 0, 10, 0, 0) op_31 (v3[7:0], v16[8:0], v31[9:0]);
    wire [10:0] v32; shift_adder #(9, 10, 0, 0, 11, -1, 0) op_32 (v21[8:0], v24[9:0], v32[10:0]);
    wire [11:0] v33; shift_adder #(9, 11, 0, 0, 12, 1, 0) op_33 (v27[8:0], v28[10:0], v33[11:0]);
    wire [14:0] v34; shift_adder #(11, 8, 1, 0, 15, 5, 1) op_34 (v13[10:0], v22[7:0], v34[14:0]);
    wire [10:0] v35; shift_adder #(8, 9, 0, 0, 11, 1, 0) op_35 (v18[7:0], v16[8:0], v35[10:0]);
    wire [11:0] v36; shift_adder #(8, 10, 0, 1, 12, -2, 0) op_36 (v7[7:0], v30[9:0], v36[11:0]);
    wire [14:0] v37; shift_adder #(10, 14, 0, 0, 15, 0, 1) op_37 (v31[9:0], v19[13:0], v37[14:0]);
    wire [14:0] v38; shift_adder #(12, 15, 0, 1, 15, -1, 0) op_38 (v33[11:0], v34[14:0], v38[14:0]);
    wire [10:0] v39; shift_adder #(8, 11, 0, 0, 11, -1, 0) op_39 (v25[7:0], v35[10:0], v39[10:0]);
    wire [12:0] v40; shift_adder #(12, 11, 1, 1, 13, 0, 0) op_40 (v36[11:0], v13[10:0], v40[12:0]);
    wire [14:0] v41; shift_adder #(15, 11, 1, 0, 15, 0, 1) op_41 (v37[14:0], v32[10:0], v41[14:0]);
    wire [14:0] v42; shift_adder #(15, 12, 1, 1, 15, 0, 1) op_42 (v38[14:0], v36[11:0], v42[14:0]);
    wire [13:0] v43; shift_adder #(11, 11, 0, 0, 14, -2, 0) op_43 (v39[10:0], v39[10:0], v43[13:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[7:0] = v3[7:0];
    assign model_out[20:8] = v40[12:0];
    assign model_out[35:21] = v41[14:0];
    assign model_out[50:36] = v42[14:0];
    assign model_out[58:51] = v23[7:0];
    assign model_out[72:59] = v43[13:0];

endmodule
