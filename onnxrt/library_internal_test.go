package onnxrt

import (
	"slices"
	"testing"
)

func TestCompareLibraryNames(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{
			name: "numeric not lexical",
			in:   []string{"/l/libonnxruntime.so.1.24.1", "/l/libonnxruntime.so.1.9.0", "/l/libonnxruntime.so"},
			want: []string{"/l/libonnxruntime.so", "/l/libonnxruntime.so.1.9.0", "/l/libonnxruntime.so.1.24.1"},
		},
		{
			name: "longer version after its prefix",
			in:   []string{"/l/libonnxruntime.so.1.24.1", "/l/libonnxruntime.so.1"},
			want: []string{"/l/libonnxruntime.so.1", "/l/libonnxruntime.so.1.24.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Clone(tt.in)
			slices.SortFunc(got, compareLibraryNames)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("sorted %v, want %v", got, tt.want)
			}
		})
	}
}
