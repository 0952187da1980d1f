`timescale 1 ns / 1 ps

module trigger_net_core_stage3 (
    input [362:0] model_inp,
    output [66:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [7:0] v0; assign v0[7:0] = model_inp[7:0];
    wire [12:0] v1; assign v1[12:0] = model_inp[20:8];
    wire [13:0] v2; shift_adder #(8, 13, 0, 1, 14, -3, 1) op_2 (v0[7:0], v1[12:0], v2[13:0]);
    wire [15:0] v3; assign v3[15:0] = model_inp[36:21];
    wire [15:0] v4; assign v4[15:0] = model_inp[52:37];
    wire [16:0] v5; shift_adder #(16, 16, 1, 1, 17, 0, 0) op_5 (v3[15:0], v4[15:0], v5[16:0]);
    wire [13:0] v6; assign v6[13:0] = model_inp[66:53];
    wire [14:0] v7; assign v7[14:0] = model_inp[81:67];
    wire [14:0] v8; shift_adder #(14, 15, 1, 1, 15, -1, 1) op_8 (v6[13:0], v7[14:0], v8[14:0]);
    wire [15:0] v9; assign v9[15:0] = model_inp[97:82];
    wire [14:0] v10; assign v10[14:0] = model_inp[112:98];
    wire [16:0] v11; shift_adder #(16, 15, 1, 1, 17, 0, 1) op_11 (v9[15:0], v10[14:0], v11[16:0]);
    wire [14:0] v12; assign v12[14:0] = model_inp[127:113];
    wire [15:0] v13; assign v13[15:0] = model_inp[143:128];
    wire [16:0] v14; shift_adder #(15, 16, 1, 1, 17, 1, 0) op_14 (v12[14:0], v13[15:0], v14[16:0]);
    wire [13:0] v15; assign v15[13:0] = model_inp[157:144];
    wire [15:0] v16; assign v16[15:0] = model_inp[173:158];
    wire [15:0] v17; shift_adder #(14, 16, 1, 1, 16, 0, 0) op_17 (v15[13:0], v16[15:0], v17[15:0]);
    wire [11:0] v18; assign v18[11:0] = model_inp[185:174];
    wire [15:0] v19; assign v19[15:0] = model_inp[201:186];
    wire [15:0] v20; shift_adder #(12, 16, 1, 1, 16, 0, 1) op_20 (v18[11:0], v19[15:0], v20[15:0]);
    wire [16:0] v21; assign v21[16:0] = model_inp[218:202];
    wire [16:0] v22; shift_adder #(14, 17, 1, 1, 17, 0, 0) op_22 (v6[13:0], v21[16:0], v22[16:0]);
    wire [15:0] v23; assign v23[15:0] = model_inp[234:219];
    wire [14:0] v24; assign v24[14:0] = model_inp[249:235];
    wire [16:0] v25; shift_adder #(16, 15, 1, 1, 17, 2, 1) op_25 (v23[15:0], v24[14:0], v25[16:0]);
    wire [15:0] v26; assign v26[15:0] = model_inp[265:250];
    wire [15:0] v27; assign v27[15:0] = model_inp[281:266];
    wire [16:0] v28; shift_adder #(16, 16, 1, 1, 17, 0, 1) op_28 (v26[15:0], v27[15:0], v28[16:0]);
    wire [15:0] v29; assign v29[15:0] = model_inp[297:282];
    wire [15:0] v30; assign v30[15:0] = model_inp[313:298];
    wire [16:0] v31; shift_adder #(16, 16, 1, 1, 17, 1, 0) op_31 (v29[15:0], v30[15:0], v31[16:0]);
    wire [16:0] v32; shift_adder #(14, 17, 1, 1, 17, -1, 0) op_32 (v2[13:0], v5[16:0], v32[16:0]);
    wire [16:0] v33; shift_adder #(17, 4, 1, 0, 17, 0, 0) op_33 (v32[16:0], 4'b1010, v33[16:0]);
    wire [15:0] v34; assign v34[15:0] = v33[15:0] & {16{~v33[16]}};
    wire [10:0] v35; assign v35[10:0] = v34[15:5];
    wire [11:0] v36; shift_adder #(11, 8, 0, 0, 12, 0, 1) op_36 (v35[10:0], 8'b11111111, v36[11:0]);
    wire [16:0] v37; shift_adder #(15, 17, 1, 1, 17, 0, 0) op_37 (v8[14:0], v11[16:0], v37[16:0]);
    wire [16:0] v38; shift_adder #(17, 4, 1, 0, 17, 0, 0) op_38 (v37[16:0], 4'b1010, v38[16:0]);
    wire [14:0] v39; assign v39[14:0] = v38[14:0] & {15{~v38[16]}};
    wire [9:0] v40; assign v40[9:0] = v39[14:5];
    wire [9:0] v41; shift_adder #(10, 8, 0, 0, 10, 0, 1) op_41 (v40[9:0], 8'b11111111, v41[9:0]);
    wire [16:0] v42; assign v42[16:0] = model_inp[330:314];
    wire [17:0] v43; shift_adder #(17, 17, 1, 1, 18, 0, 0) op_43 (v42[16:0], v14[16:0], v43[17:0]);
    wire [17:0] v44; shift_adder #(18, 5, 1, 0, 18, 0, 1) op_44 (v43[17:0], 5'b10000, v44[17:0]);
    wire [15:0] v45; assign v45[15:0] = v44[15:0] & {16{~v44[17]}};
    wire [10:0] v46; assign v46[10:0] = v45[15:5];
    wire [11:0] v47; shift_adder #(11, 8, 0, 0, 12, 0, 1) op_47 (v46[10:0], 8'b11111111, v47[11:0]);
    wire [16:0] v48; assign v48[16:0] = model_inp[347:331];
    wire [16:0] v49; shift_adder #(17, 16, 1, 1, 17, 0, 0) op_49 (v48[16:0], v17[15:0], v49[16:0]);
    wire [16:0] v50; shift_adder #(17, 5, 1, 0, 17, 0, 1) op_50 (v49[16:0], 5'b11000, v50[16:0]);
    wire [15:0] v51; assign v51[15:0] = v50[15:0] & {16{~v50[16]}};
    wire [10:0] v52; assign v52[10:0] = v51[15:5];
    wire [11:0] v53; shift_adder #(11, 8, 0, 0, 12, 0, 1) op_53 (v52[10:0], 8'b11111111, v53[11:0]);
    wire [16:0] v54; shift_adder #(16, 17, 1, 1, 17, 0, 0) op_54 (v20[15:0], v22[16:0], v54[16:0]);
    wire [16:0] v55; shift_adder #(17, 5, 1, 0, 17, 0, 1) op_55 (v54[16:0], 5'b11000, v55[16:0]);
    wire [15:0] v56; assign v56[15:0] = v55[15:0] & {16{~v55[16]}};
    wire [10:0] v57; assign v57[10:0] = v56[15:5];
    wire [11:0] v58; shift_adder #(11, 8, 0, 0, 12, 0, 1) op_58 (v57[10:0], 8'b11111111, v58[11:0]);
    wire [16:0] v59; shift_adder #(14, 17, 1, 1, 17, 0, 0) op_59 (v2[13:0], v25[16:0], v59[16:0]);
    wire [16:0] v60; shift_adder #(17, 5, 1, 0, 17, 0, 1) op_60 (v59[16:0], 5'b10000, v60[16:0]);
    wire [15:0] v61; assign v61[15:0] = v60[15:0] & {16{~v60[16]}};
    wire [10:0] v62; assign v62[10:0] = v61[15:5];
    wire [11:0] v63; shift_adder #(11, 8, 0, 0, 12, 0, 1) op_63 (v62[10:0], 8'b11111111, v63[11:0]);
    wire [14:0] v64; assign v64[14:0] = model_inp[362:348];
    wire [16:0] v65; shift_adder #(15, 17, 1, 1, 17, -1, 0) op_65 (v64[14:0], v28[16:0], v65[16:0]);
    wire [16:0] v66; shift_adder #(17, 5, 1, 0, 17, 0, 0) op_66 (v65[16:0], 5'b10101, v66[16:0]);
    wire [15:0] v67; assign v67[15:0] = v66[15:0] & {16{~v66[16]}};
    wire [10:0] v68; assign v68[10:0] = v67[15:5];
    wire [11:0] v69; shift_adder #(11, 8, 0, 0, 12, 0, 1) op_69 (v68[10:0], 8'b11111111, v69[11:0]);
    wire [17:0] v70; shift_adder #(17, 12, 1, 1, 18, 0, 1) op_70 (v31[16:0], v18[11:0], v70[17:0]);
    wire [17:0] v71; shift_adder #(18, 6, 1, 0, 18, 0, 1) op_71 (v70[17:0], 6'b100011, v71[17:0]);
    wire [15:0] v72; assign v72[15:0] = v71[15:0] & {16{~v71[17]}};
    wire [10:0] v73; assign v73[10:0] = v72[15:5];
    wire [10:0] v74; shift_adder #(11, 8, 0, 0, 11, 0, 1) op_74 (v73[10:0], 8'b11111111, v74[10:0]);
    wire [7:0] v75; assign v75[7:0] = 'b11111111;
    wire [7:0] v76; mux #(11, 8, 0, 0, 8, 0, 0) op_76 (v36[11], v35[10:0], v75[7:0], v76[7:0]);
    wire [7:0] v77; assign v77[7:0] = 'b11111111;
    wire [7:0] v78; mux #(10, 8, 0, 0, 8, 0, 0) op_78 (v41[9], v40[9:0], v77[7:0], v78[7:0]);
    wire [7:0] v79; assign v79[7:0] = 'b11111111;
    wire [7:0] v80; mux #(11, 8, 0, 0, 8, 0, 0) op_80 (v47[11], v46[10:0], v79[7:0], v80[7:0]);
    wire [7:0] v81; assign v81[7:0] = 'b11111111;
    wire [7:0] v82; mux #(11, 8, 0, 0, 8, 0, 0) op_82 (v53[11], v52[10:0], v81[7:0], v82[7:0]);
    wire [7:0] v83; assign v83[7:0] = 'b11111111;
    wire [7:0] v84; mux #(11, 8, 0, 0, 8, 0, 0) op_84 (v58[11], v57[10:0], v83[7:0], v84[7:0]);
    wire [7:0] v85; assign v85[7:0] = 'b11111111;
    wire [7:0] v86; mux #(11, 8, 0, 0, 8, 0, 0) op_86 (v63[11], v62[10:0], v85[7:0], v86[7:0]);
    wire [7:0] v87; assign v87[7:0] = 'b11111111;
    wire [7:0] v88; mux #(11, 8, 0, 0, 8, 0, 0) op_88 (v69[11], v68[10:0], v87[7:0], v88[7:0]);
    wire [7:0] v89; assign v89[7:0] = 'b11111111;
    wire [7:0] v90; mux #(11, 8, 0, 0, 8, 0, 0) op_90 (v74[10], v73[10:0], v89[7:0], v90[7:0]);
    wire [8:0] v91; shift_adder #(8, 8, 0, 0, 9, 0, 1) op_91 (v76[7:0], v78[7:0], v91[8:0]);
    wire [10:0] v92; shift_adder #(8, 8, 0, 0, 11, 2, 0) op_92 (v78[7:0], v82[7:0], v92[10:0]);
    wire [9:0] v93; shift_adder #(8, 8, 0, 0, 10, 1, 0) op_93 (v84[7:0], v86[7:0], v93[9:0]);
    wire [8:0] v94; shift_adder #(8, 8, 0, 0, 9, 0, 0) op_94 (v80[7:0], v88[7:0], v94[8:0]);
    wire [8:0] v95; shift_adder #(8, 8, 0, 0, 9, 0, 1) op_95 (v90[7:0], v88[7:0], v95[8:0]);
    wire [10:0] v96; shift_adder #(8, 8, 0, 0, 11, 2, 0) op_96 (v82[7:0], v90[7:0], v96[10:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[8:0] = v91[8:0];
    assign model_out[16:9] = v80[7:0];
    assign model_out[27:17] = v92[10:0];
    assign model_out[37:28] = v93[9:0];
    assign model_out[46:38] = v94[8:0];
    assign model_out[55:47] = v95[8:0];
    assign model_out[66:56] = v96[10:0];

endmodule
