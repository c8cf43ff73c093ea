package modelkind_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
)

func TestAllAndNames(t *testing.T) {
	want := []modelkind.Kind{"naive", "bgnbd", "pnbd", "mbgnbd", "ziln", "seq"}
	if got := modelkind.All(); !slices.Equal(got, want) {
		t.Fatalf("All() = %v, want %v", got, want)
	}
	a := modelkind.All()
	a[0] = "changed"
	if modelkind.All()[0] != modelkind.Naive {
		t.Error("All() shares its backing array with the caller")
	}
	if got := modelkind.Names(); !slices.Equal(got, []string{"naive", "bgnbd", "pnbd", "mbgnbd", "ziln", "seq"}) {
		t.Errorf("Names() = %v", got)
	}
	if modelkind.Baseline != modelkind.BGNBD {
		t.Errorf("Baseline = %q, want bgnbd", modelkind.Baseline)
	}
}

func TestKindMethods(t *testing.T) {
	for _, tc := range []struct {
		kind           modelkind.Kind
		valid, network bool
	}{
		{modelkind.Naive, true, false},
		{modelkind.BGNBD, true, false},
		{modelkind.PNBD, true, false},
		{modelkind.MBGNBD, true, false},
		{modelkind.ZILN, true, true},
		{modelkind.Seq, true, true},
		{"ZILN", false, false},
		{" seq", false, false},
		{"gru", false, false},
		{"", false, false},
	} {
		if got := tc.kind.Valid(); got != tc.valid {
			t.Errorf("%q.Valid() = %v, want %v", tc.kind, got, tc.valid)
		}
		if got := tc.kind.IsNetwork(); got != tc.network {
			t.Errorf("%q.IsNetwork() = %v, want %v", tc.kind, got, tc.network)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    modelkind.Kind
		wantErr string
	}{
		{"naive", modelkind.Naive, ""},
		{"BGNBD", modelkind.BGNBD, ""},
		{" PNBD", modelkind.PNBD, ""},
		{"MbgNbd", modelkind.MBGNBD, ""},
		{"ziln", modelkind.ZILN, ""},
		{" SEQ ", modelkind.Seq, ""},
		{"\tZiLn\n", modelkind.ZILN, ""},
		{"gru", "", `unknown model kind "gru" (want one of naive, bgnbd, pnbd, mbgnbd, ziln, seq)`},
		{"", "", `unknown model kind ""`},
		{"naive,seq", "", `unknown model kind "naive,seq"`},
	} {
		got, err := modelkind.Parse(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, modelkind.ErrUnknown) || got != "" {
				t.Errorf("Parse(%q) = %q, %v; want an ErrUnknown error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		in      []string
		want    []modelkind.Kind
		wantErr string
		unknown bool
	}{
		{[]string{"seq,naive", " BGNBD "}, []modelkind.Kind{"naive", "bgnbd", "seq"}, "", false},
		{[]string{"ziln", "ziln"}, []modelkind.Kind{"ziln"}, "", false},
		{[]string{"naive,,bgnbd"}, []modelkind.Kind{"naive", "bgnbd"}, "", false},
		{[]string{"seq", "ziln", "bgnbd", "naive"}, []modelkind.Kind{"naive", "bgnbd", "ziln", "seq"}, "", false},
		{[]string{"mbgnbd,seq", "pnbd", "bgnbd"}, []modelkind.Kind{"bgnbd", "pnbd", "mbgnbd", "seq"}, "", false},
		{[]string{" , ", "ZILN"}, []modelkind.Kind{"ziln"}, "", false},
		{[]string{""}, nil, "no model requested (want one or more of naive, bgnbd, pnbd, mbgnbd, ziln, seq)", false},
		{nil, nil, "no model requested", false},
		{[]string{"naive,gbm"}, nil, `unknown model kind "gbm"`, true},
	}
	for _, tc := range tests {
		got, err := modelkind.ParseList(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, modelkind.ErrUnknown) != tc.unknown || got != nil {
				t.Errorf("ParseList(%q) = %v, %v; want error %q (ErrUnknown %v)", tc.in, got, err, tc.wantErr, tc.unknown)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestCheckPipeline(t *testing.T) {
	const (
		noNet      = "models must include ziln or seq: only neural models are exported and promoted"
		noBaseline = "models must include the bgnbd baseline the gate compares against"
	)
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"naive", "bgnbd", "ziln", "seq"}, nil},
		{[]string{"bgnbd", "seq"}, nil},
		{[]string{"ziln", "bgnbd"}, nil},
		{[]string{"bgnbd", "pnbd", "mbgnbd", "ziln"}, nil},
		{[]string{"pnbd", "mbgnbd", "ziln"}, []string{noBaseline}},
		{nil, []string{"no models to train", noNet, noBaseline}},
		{[]string{}, []string{"no models to train", noNet, noBaseline}},
		{[]string{"naive"}, []string{noNet, noBaseline}},
		{[]string{"naive", "bgnbd"}, []string{noNet}},
		{[]string{"ziln"}, []string{noBaseline}},
		{[]string{"bgnbd", "ZILN", "gbm"}, []string{`unknown model "ZILN" (naive, bgnbd, pnbd, mbgnbd, ziln, seq)`, `unknown model "gbm" (naive, bgnbd, pnbd, mbgnbd, ziln, seq)`, noNet}},
		{[]string{"bgnbd", "ziln", ""}, []string{`unknown model "" (naive, bgnbd, pnbd, mbgnbd, ziln, seq)`}},
	} {
		if got := modelkind.CheckPipeline(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("CheckPipeline(%q) =\n  %q\nwant\n  %q", tc.in, got, tc.want)
		}
	}
}

func TestDefaultNamesLeaveOutTheSlowClassics(t *testing.T) {
	d := modelkind.DefaultNames()
	for _, n := range d {
		if !slices.Contains(modelkind.Names(), n) {
			t.Errorf("default %q is not a kind", n)
		}
	}
	if slices.Contains(d, string(modelkind.PNBD)) || slices.Contains(d, string(modelkind.MBGNBD)) || !slices.Contains(d, string(modelkind.Seq)) {
		t.Fatalf("defaults %v", d)
	}
}
