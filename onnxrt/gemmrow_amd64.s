//go:build amd64 && !amd64.v3

#include "textflag.h"

// func gemmRowAVX(y, b, x *float32, idx *int32, nnz int, w *float32, n, blocks int)
//
// Columns go 32 at a time (four accumulators, so four independent add
// chains), then 8 at a time. Every column is one chain: bias, then
// + x[k]·w[k,j] for k in idx order.
TEXT ·gemmRowAVX(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ b+8(FP), SI
	MOVQ x+16(FP), R8
	MOVQ idx+24(FP), R9
	MOVQ nnz+32(FP), R10
	MOVQ w+40(FP), R11
	MOVQ n+48(FP), R12
	MOVQ blocks+56(FP), R13
	SHLQ $2, R12 // row stride of w in bytes

wide:
	CMPQ R13, $4
	JLT  narrow
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	XORQ CX, CX

wideloop:
	CMPQ CX, R10
	JGE  widestore
	MOVLQSX (R9)(CX*4), AX
	VBROADCASTSS (R8)(AX*4), Y4
	IMULQ R12, AX
	ADDQ R11, AX
	VMULPS 0(AX), Y4, Y5
	VADDPS Y5, Y0, Y0
	VMULPS 32(AX), Y4, Y6
	VADDPS Y6, Y1, Y1
	VMULPS 64(AX), Y4, Y7
	VADDPS Y7, Y2, Y2
	VMULPS 96(AX), Y4, Y8
	VADDPS Y8, Y3, Y3
	INCQ CX
	JMP  wideloop

widestore:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	ADDQ $128, R11
	SUBQ $4, R13
	JMP  wide

narrow:
	TESTQ R13, R13
	JZ    done
	VMOVUPS 0(SI), Y0
	XORQ CX, CX

narrowloop:
	CMPQ CX, R10
	JGE  narrowstore
	MOVLQSX (R9)(CX*4), AX
	VBROADCASTSS (R8)(AX*4), Y4
	IMULQ R12, AX
	VMULPS (R11)(AX*1), Y4, Y5
	VADDPS Y5, Y0, Y0
	INCQ CX
	JMP  narrowloop

narrowstore:
	VMOVUPS Y0, 0(DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R11
	DECQ R13
	JMP  narrow

done:
	VZEROUPPER
	RET
