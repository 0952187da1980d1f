`timescale 1 ns / 1 ps

module trigger_net_core_stage4 (
    input [180:0] model_inp,
    output [47:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [7:0] v0; assign v0[7:0] = 'b11111111;
    wire [10:0] v1; assign v1[10:0] = model_inp[10:0];
    wire [10:0] v2; assign v2[10:0] = model_inp[21:11];
    wire [7:0] v3; mux #(11, 8, 0, 0, 8, 0, 0) op_3 (v2[10], v1[10:0], v0[7:0], v3[7:0]);
    wire [7:0] v4; assign v4[7:0] = 'b11111111;
    wire [10:0] v5; assign v5[10:0] = model_inp[32:22];
    wire [10:0] v6; assign v6[10:0] = model_inp[43:33];
    wire [7:0] v7; mux #(11, 8, 0, 0, 8, 0, 0) op_7 (v6[10], v5[10:0], v4[7:0], v7[7:0]);
    wire [7:0] v8; assign v8[7:0] = 'b11111111;
    wire [11:0] v9; assign v9[11:0] = model_inp[55:44];
    wire [11:0] v10; assign v10[11:0] = model_inp[67:56];
    wire [7:0] v11; mux #(12, 8, 0, 0, 8, 0, 0) op_11 (v10[11], v9[11:0], v8[7:0], v11[7:0]);
    wire [7:0] v12; assign v12[7:0] = 'b11111111;
    wire [10:0] v13; assign v13[10:0] = model_inp[78:68];
    wire [11:0] v14; assign v14[11:0] = model_inp[90:79];
    wire [7:0] v15; mux #(11, 8, 0, 0, 8, 0, 0) op_15 (v14[11], v13[10:0], v12[7:0], v15[7:0]);
    wire [7:0] v16; assign v16[7:0] = 'b11111111;
    wire [10:0] v17; assign v17[10:0] = model_inp[101:91];
    wire [11:0] v18; assign v18[11:0] = model_inp[113:102];
    wire [7:0] v19; mux #(11, 8, 0, 0, 8, 0, 0) op_19 (v18[11], v17[10:0], v16[7:0], v19[7:0]);
    wire [7:0] v20; assign v20[7:0] = 'b11111111;
    wire [10:0] v21; assign v21[10:0] = model_inp[124:114];
    wire [11:0] v22; assign v22[11:0] = model_inp[136:125];
    wire [7:0] v23; mux #(11, 8, 0, 0, 8, 0, 0) op_23 (v22[11], v21[10:0], v20[7:0], v23[7:0]);
    wire [7:0] v24; assign v24[7:0] = 'b11111111;
    wire [10:0] v25; assign v25[10:0] = model_inp[147:137];
    wire [11:0] v26; assign v26[11:0] = model_inp[159:148];
    wire [7:0] v27; mux #(11, 8, 0, 0, 8, 0, 0) op_27 (v26[11], v25[10:0], v24[7:0], v27[7:0]);
    wire [7:0] v28; assign v28[7:0] = 'b11111111;
    wire [9:0] v29; assign v29[9:0] = model_inp[169:160];
    wire [10:0] v30; assign v30[10:0] = model_inp[180:170];
    wire [7:0] v31; mux #(10, 8, 0, 0, 8, 0, 0) op_31 (v30[10], v29[9:0], v28[7:0], v31[7:0]);
    wire [8:0] v32; shift_adder #(8, 8, 0, 0, 9, 0, 0) op_32 (v3[7:0], v7[7:0], v32[8:0]);
    wire [10:0] v33; shift_adder #(8, 8, 0, 0, 11, -2, 0) op_33 (v11[7:0], v15[7:0], v33[10:0]);
    wire [11:0] v34; shift_adder #(8, 8, 0, 0, 12, 3, 1) op_34 (v3[7:0], v23[7:0], v34[11:0]);
    wire [9:0] v35; shift_adder #(8, 8, 0, 0, 10, 1, 1) op_35 (v7[7:0], v27[7:0], v35[9:0]);
    wire [10:0] v36; shift_adder #(8, 8, 0, 0, 11, -2, 0) op_36 (v11[7:0], v31[7:0], v36[10:0]);
    wire [8:0] v37; shift_adder #(8, 8, 0, 0, 9, 0, 0) op_37 (v19[7:0], v23[7:0], v37[8:0]);
    wire [14:0] v38; shift_adder #(9, 11, 0, 0, 15, -5, 1) op_38 (v32[8:0], v33[10:0], v38[14:0]);
    wire [12:0] v39; shift_adder #(8, 12, 0, 1, 13, -2, 1) op_39 (v19[7:0], v34[11:0], v39[12:0]);
    wire [15:0] v40; shift_adder #(10, 8, 1, 0, 16, 6, 1) op_40 (v35[9:0], v31[7:0], v40[15:0]);
    wire [13:0] v41; shift_adder #(9, 10, 0, 1, 14, 4, 0) op_41 (v37[8:0], v35[9:0], v41[13:0]);
    wire [15:0] v42; shift_adder #(15, 13, 1, 1, 16, 0, 1) op_42 (v38[14:0], v39[12:0], v42[15:0]);
    wire [15:0] v43; shift_adder #(16, 11, 1, 0, 16, 3, 1) op_43 (v40[15:0], v36[10:0], v43[15:0]);
    wire [15:0] v44; shift_adder #(14, 13, 1, 1, 16, 3, 0) op_44 (v41[13:0], v39[12:0], v44[15:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[15:0] = v43[15:0];
    assign model_out[31:16] = v44[15:0];
    assign model_out[47:32] = v42[15:0];

endmodule
