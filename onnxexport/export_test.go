package onnxexport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelfile"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
	"github.com/clvflow/clvflow/onnxexport"
)

// parityTol is the contract's default parity tolerance.
const parityTol = 1e-4

var ortSkip string // reason ORT tests are skipped; "" when ORT is ready

func TestMain(m *testing.M) {
	lib := os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH")
	if lib == "" {
		lib = defaultORTLib()
	}
	if _, err := os.Stat(lib); lib == "" || err != nil {
		ortSkip = fmt.Sprintf("ONNX Runtime library not found (%q); set ONNXRUNTIME_SHARED_LIBRARY_PATH", lib)
	} else {
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(); err != nil {
			ortSkip = fmt.Sprintf("ONNX Runtime %s failed to initialise: %v", lib, err)
		}
	}
	code := m.Run()
	if ortSkip == "" {
		_ = ort.DestroyEnvironment()
	}
	os.Exit(code)
}

// defaultORTLib is .tools/lib/libonnxruntime.so.1.24.1 in the module root.
func defaultORTLib() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".tools", "lib", "libonnxruntime.so.1.24.1")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func needORT(t *testing.T) {
	t.Helper()
	if ortSkip != "" {
		t.Skip(ortSkip)
	}
}

type fixture struct {
	model *nn.Model
	tab   [][]float64
	seq   [][]float64
}

var (
	fixMu    sync.Mutex
	fixtures = map[string]*fixture{}
)

// trained returns a small model trained on synthetic customers, and probe
// rows (held-out customers plus extreme hand-made rows).
func trained(t *testing.T, kind modelkind.Kind, ensemble int) *fixture {
	t.Helper()
	return trainedWith(t, kind, ensemble, true)
}

func trainedWith(t *testing.T, kind modelkind.Kind, ensemble int, rates bool) *fixture {
	t.Helper()
	key := fmt.Sprintf("%s/%d/%v", kind, ensemble, rates)
	fixMu.Lock()
	defer fixMu.Unlock()
	if f := fixtures[key]; f != nil {
		return f
	}
	cfg := nn.DefaultConfig(kind)
	cfg.Hidden = []int{24, 12}
	cfg.MaxEpochs = 8
	cfg.LR = 3e-3
	cfg.Ensemble = ensemble
	cfg.RateFeatures = rates
	if kind == modelkind.Seq {
		cfg.SeqWeeks = 30
		cfg.ConvFilters = 4
		cfg.KernelSize = 6
		cfg.ConvStride = 3
	}
	ds := nntest.Synthetic(1500, cfg.SeqWeeks, 21)
	tr, te := features.SplitIndices(len(ds.IDs), 0.2, 2)
	train, test := ds.Subset(tr), ds.Subset(te)
	d := nn.Data{Tabular: train.Tabular, Label: train.Label}
	if kind == modelkind.Seq {
		d.Seq = train.Seq
	}
	m, err := nn.Train(context.Background(), cfg, d, nn.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{model: m, tab: test.Tabular}
	if kind == modelkind.Seq {
		f.seq = test.Seq
	}
	// extreme rows, far outside the training range: nothing at all, a huge
	// spender, absurd magnitudes, a 29-year-old customer, tiny values
	w := cfg.SeqWeeks
	f.tab = append(f.tab, []float64{0, 0, 0, 0, 0, 0, 0}, []float64{250, 38, 39, 1, 2.5e5, 1e3, 5e4},
		[]float64{1e4, 1000, 1000, 0, 1.0001e8, 1e4, 1e4}, []float64{5, 10, 1500, 1490, 600, 100, 100},
		[]float64{1, 1.0 / 7, 2.0 / 7, 1.0 / 7, 0.02, 0.01, 0.01})
	if kind == modelkind.Seq {
		big, absurd, tiny := make([]float64, 2*w), make([]float64, 2*w), make([]float64, 2*w)
		for i := 0; i < w; i++ {
			big[i], big[w+i] = 5000, 6
			absurd[i], absurd[w+i] = 1e6, 7
		}
		tiny[w-1], tiny[2*w-1] = 0.02, 2
		f.seq = append(f.seq, make([]float64, 2*w), big, absurd, make([]float64, 2*w), tiny)
	}
	fixtures[key] = f
	return f
}

func meta() onnxexport.Metadata {
	return onnxexport.Metadata{Name: "clv-test", Version: "v7", RawDatasetSHA256: strings.Repeat("ab", 32), CleanDatasetSHA256: strings.Repeat("cd", 32),
		Extra: map[string]string{"clvflow.code_rev": "abc123"}}
}

func TestExportDeterministic(t *testing.T) {
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		f := trained(t, kind, 2)
		a, err := onnxexport.Export(f.model, meta())
		if err != nil {
			t.Fatal(err)
		}
		b, err := onnxexport.Export(f.model, meta())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two exports differ", kind)
		}
		other := meta()
		other.Version = "v8"
		c, err := onnxexport.Export(f.model, other)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, c) {
			t.Fatalf("%s: metadata change did not change the bytes", kind)
		}
	}
}

func dims(vi *pb.ValueInfoProto) []string {
	var out []string
	for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		if p := d.GetDimParam(); p != "" {
			out = append(out, p)
		} else {
			out = append(out, fmt.Sprint(d.GetDimValue()))
		}
	}
	return out
}

func TestExportStructure(t *testing.T) {
	for _, tc := range []struct {
		kind     modelkind.Kind
		ensemble int
		inputs   []string
		schema   string
	}{
		{modelkind.ZILN, 1, []string{"features[batch 7]"},
			`{"tabular_input":"features","tabular_columns":["x","t_x","T","recency","cal_spend","mbar","first_value"],"sequence_input":"","sequence_channels":["spend","purchase_days"],"sequence_weeks":0,"outputs":["expected_value","purchase_probability","mu","sigma"]}`},
		{modelkind.Seq, 2, []string{"features[batch 7]", "sequence[batch 2 30]"},
			`{"tabular_input":"features","tabular_columns":["x","t_x","T","recency","cal_spend","mbar","first_value"],"sequence_input":"sequence","sequence_channels":["spend","purchase_days"],"sequence_weeks":30,"outputs":["expected_value","purchase_probability","mu","sigma"]}`},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.kind, tc.ensemble), func(t *testing.T) {
			f := trained(t, tc.kind, tc.ensemble)
			blob, err := onnxexport.Export(f.model, meta())
			if err != nil {
				t.Fatal(err)
			}
			var mp pb.ModelProto
			if err := proto.Unmarshal(blob, &mp); err != nil {
				t.Fatal(err)
			}
			if len(mp.OpsetImport) != 1 || mp.OpsetImport[0].Version < 13 || mp.OpsetImport[0].Domain != "" {
				t.Errorf("opset import %v, want default domain >= 13", mp.OpsetImport)
			}
			var ins, outs []string
			for _, vi := range mp.Graph.Input {
				ins = append(ins, fmt.Sprintf("%s%v", vi.Name, dims(vi)))
				if vi.GetType().GetTensorType().GetElemType() != int32(pb.TensorProto_FLOAT) {
					t.Errorf("input %s is not float32", vi.Name)
				}
			}
			for _, vi := range mp.Graph.Output {
				outs = append(outs, fmt.Sprintf("%s%v", vi.Name, dims(vi)))
			}
			if !slices.Equal(ins, tc.inputs) {
				t.Errorf("inputs %v, want %v", ins, tc.inputs)
			}
			wantOuts := []string{"expected_value[batch 1]", "purchase_probability[batch 1]", "mu[batch 1]", "sigma[batch 1]"}
			if !slices.Equal(outs, wantOuts) {
				t.Errorf("outputs %v, want %v", outs, wantOuts)
			}
			props := map[string]string{}
			var keys []string
			for _, p := range mp.MetadataProps {
				props[p.Key] = p.Value
				keys = append(keys, p.Key)
			}
			if !slices.IsSorted(keys) {
				t.Errorf("metadata keys not sorted: %v", keys)
			}
			want := map[string]string{
				modelfile.MetaModelKind:          string(tc.kind),
				modelfile.MetaModelName:          "clv-test",
				modelfile.MetaVersion:            "v7",
				modelfile.MetaSeed:               fmt.Sprint(f.model.Config.Seed),
				modelfile.MetaRawDatasetSHA256:   strings.Repeat("ab", 32),
				modelfile.MetaCleanDatasetSHA256: strings.Repeat("cd", 32),
				modelfile.MetaValueCap:           onnxexport.FormatValueCap(f.model.ValueCap),
				modelfile.MetaFeatureSchema:      tc.schema,
				modelfile.MetaEnsemble:           fmt.Sprint(tc.ensemble),
				"clvflow.code_rev":               "abc123",
			}
			for k, v := range want {
				if props[k] != v {
					t.Errorf("metadata %s = %q, want %q", k, props[k], v)
				}
			}
			var schema modelfile.FeatureSchema
			if err := json.Unmarshal([]byte(props[modelfile.MetaFeatureSchema]), &schema); err != nil {
				t.Errorf("feature schema is not JSON: %v", err)
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	f := trained(t, modelkind.ZILN, 1)
	broken := *f.model
	broken.Members = append([]nn.Network(nil), f.model.Members...)
	broken.Members[0].Head.B = nil
	for _, tc := range []struct {
		name  string
		model *nn.Model
		meta  func(*onnxexport.Metadata)
		want  string
	}{
		{"nil model", nil, func(*onnxexport.Metadata) {}, "nil model"},
		{"corrupt model", &broken, func(*onnxexport.Metadata) {}, "head"},
		{"no name", f.model, func(m *onnxexport.Metadata) { m.Name = " " }, "name"},
		{"no version", f.model, func(m *onnxexport.Metadata) { m.Version = "" }, "version"},
		{"bad raw sha", f.model, func(m *onnxexport.Metadata) { m.RawDatasetSHA256 = "xyz" }, "raw_dataset_sha256"},
		{"upper raw sha", f.model, func(m *onnxexport.Metadata) { m.RawDatasetSHA256 = strings.Repeat("AB", 32) }, "raw_dataset_sha256"},
		{"bad clean sha", f.model, func(m *onnxexport.Metadata) { m.CleanDatasetSHA256 = strings.Repeat("ab", 31) }, "clean_dataset_sha256"},
		{"reserved extra", f.model, func(m *onnxexport.Metadata) { m.Extra = map[string]string{modelfile.MetaSeed: "1"} }, "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := meta()
			tc.meta(&md)
			if _, err := onnxexport.Export(tc.model, md); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// runORT evaluates an exported model with ONNX Runtime on raw rows and
// returns the four outputs in contract order.
func runORT(t *testing.T, blob []byte, kind modelkind.Kind, tab, seq [][]float64) [4][]float32 {
	t.Helper()
	inNames := []string{modelfile.InputFeatures}
	if kind == modelkind.Seq {
		inNames = append(inNames, modelfile.InputSequence)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(blob, inNames, modelfile.OutputNames, opts)
	if err != nil {
		t.Fatalf("ORT rejected the model: %v", err)
	}
	defer sess.Destroy()
	n := int64(len(tab))
	flat := make([]float32, 0, len(tab)*nn.NumTabular)
	for _, r := range tab {
		for _, v := range r {
			flat = append(flat, float32(v))
		}
	}
	ft, err := ort.NewTensor(ort.NewShape(n, nn.NumTabular), flat)
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Destroy()
	inputs := []ort.Value{ft}
	if kind == modelkind.Seq {
		w := int64(len(seq[0]) / 2)
		sf := make([]float32, 0, len(seq)*len(seq[0]))
		for _, r := range seq {
			for _, v := range r {
				sf = append(sf, float32(v))
			}
		}
		st, err := ort.NewTensor(ort.NewShape(n, 2, w), sf)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Destroy()
		inputs = append(inputs, st)
	}
	outs := make([]ort.Value, 4)
	if err := sess.Run(inputs, outs); err != nil {
		t.Fatalf("ORT run: %v", err)
	}
	var res [4][]float32
	for i, o := range outs {
		tt, ok := o.(*ort.Tensor[float32])
		if !ok {
			t.Fatalf("output %d has type %T", i, o)
		}
		if s := tt.GetShape(); len(s) != 2 || s[0] != n || s[1] != 1 {
			t.Fatalf("output %s shape %v, want [%d 1]", modelfile.OutputNames[i], s, n)
		}
		res[i] = slices.Clone(tt.GetData())
		o.Destroy()
	}
	return res
}

// parity returns the max |Δ| per output (expected_value: max |Δ|/max(1,|ref|))
// and whether the contract's parity rule holds at parityTol.
func parity(got [4][]float32, ref []nn.Prediction32) ([4]float64, bool) {
	var worst [4]float64
	for i, r := range ref {
		want := [4]float32{r.Expected, r.Prob, r.Mu, r.Sigma}
		for o := 0; o < 4; o++ {
			d := math.Abs(float64(got[o][i]) - float64(want[o]))
			if o == 0 {
				d /= math.Max(1, math.Abs(float64(want[o])))
			}
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			worst[o] = math.Max(worst[o], d)
		}
	}
	ok := true
	for _, w := range worst {
		ok = ok && w <= parityTol
	}
	return worst, ok
}

func TestParityWithORT(t *testing.T) {
	needORT(t)
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		for _, variant := range []struct {
			ens   int
			rates bool
		}{{1, true}, {3, true}, {2, false}} {
			t.Run(fmt.Sprintf("%s-%d-rates=%v", kind, variant.ens, variant.rates), func(t *testing.T) {
				f := trainedWith(t, kind, variant.ens, variant.rates)
				blob, err := onnxexport.Export(f.model, meta())
				if err != nil {
					t.Fatal(err)
				}
				got := runORT(t, blob, kind, f.tab, f.seq)
				ref, err := f.model.PredictFloat32(nn.Float32Rows(f.tab), nn.Float32Rows(f.seq))
				if err != nil {
					t.Fatal(err)
				}
				for o, vals := range got {
					for i, v := range vals {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("ORT output %s row %d is %v (features %v)", modelfile.OutputNames[o], i, v, f.tab[i])
						}
					}
				}
				worst, ok := parity(got, ref)
				t.Logf("%d rows: max |Δ| expected(rel) %.3g, probability %.3g, mu %.3g, sigma %.3g", len(ref), worst[0], worst[1], worst[2], worst[3])
				if !ok {
					t.Fatalf("parity fails at tol %g: %v", parityTol, worst)
				}
				// the float64 forward pass agrees loosely (float32 rounding only)
				p64, err := f.model.Predict(f.tab, f.seq)
				if err != nil {
					t.Fatal(err)
				}
				for i, p := range p64 {
					if math.Abs(p.Prob-float64(got[1][i])) > 1e-3 || math.Abs(p.Expected-float64(got[0][i])) > 1e-3*math.Max(1, p.Expected) {
						t.Fatalf("row %d: ORT (%v, %v) far from float64 (%v, %v)", i, got[0][i], got[1][i], p.Expected, p.Prob)
					}
				}
				// a batch of one works (symbolic batch dimension)
				var seq1 [][]float64
				if f.seq != nil {
					seq1 = f.seq[:1]
				}
				one := runORT(t, blob, kind, f.tab[:1], seq1)
				if _, ok := parity(one, ref[:1]); !ok {
					t.Fatal("batch of one breaks parity")
				}
			})
		}
	}
}

func TestORTReadsMetadata(t *testing.T) {
	needORT(t)
	f := trained(t, modelkind.Seq, 1)
	blob, err := onnxexport.Export(f.model, meta())
	if err != nil {
		t.Fatal(err)
	}
	md, err := ort.GetModelMetadataWithONNXData(blob)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Destroy()
	for k, want := range map[string]string{modelfile.MetaModelKind: "seq", modelfile.MetaVersion: "v7", modelfile.MetaValueCap: onnxexport.FormatValueCap(f.model.ValueCap)} {
		got, ok, err := md.LookupCustomMetadataMap(k)
		if err != nil || !ok || got != want {
			t.Errorf("ORT metadata %s = %q (found %v, err %v), want %q", k, got, ok, err, want)
		}
	}
}

// TestParityCatchesBrokenExport breaks the export in several ways and
// requires the parity rule to reject every one of them.
func TestParityCatchesBrokenExport(t *testing.T) {
	needORT(t)
	editOp := func(from, to string) func(*pb.ModelProto) bool {
		return func(mp *pb.ModelProto) bool {
			for _, n := range mp.Graph.Node {
				if n.OpType == from {
					n.OpType = to
					return true
				}
			}
			return false
		}
	}
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		f := trained(t, kind, 1)
		ref, err := f.model.PredictFloat32(nn.Float32Rows(f.tab), nn.Float32Rows(f.seq))
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name  string
			model func() *nn.Model
			edit  func(*pb.ModelProto) bool
		}{
			{"perturbed hidden weight", func() *nn.Model {
				m := cloneModel(t, f.model)
				m.Members[0].Hidden[0].W[0] += 0.05
				return m
			}, nil},
			{"perturbed standardisation", func() *nn.Model {
				m := cloneModel(t, f.model)
				m.Prep.TabMean[2] += 0.01
				return m
			}, nil},
			{"sigmoid replaced by tanh", nil, editOp("Sigmoid", "Tanh")},
			{"softplus replaced by relu", nil, editOp("Softplus", "Relu")},
			{"log1p dropped", nil, editOp("Log", "Identity")},
			{"rate division replaced", nil, editOp("Div", "Mul")},
		}
		if kind == modelkind.Seq {
			cases = append(cases, struct {
				name  string
				model func() *nn.Model
				edit  func(*pb.ModelProto) bool
			}{"perturbed conv weight", func() *nn.Model {
				m := cloneModel(t, f.model)
				m.Members[0].Conv.W[1] += 0.05
				return m
			}, nil})
		}
		for _, tc := range cases {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				m := f.model
				if tc.model != nil {
					m = tc.model()
				}
				blob, err := onnxexport.Export(m, meta())
				if err != nil {
					t.Fatal(err)
				}
				if tc.edit != nil {
					var mp pb.ModelProto
					if err := proto.Unmarshal(blob, &mp); err != nil {
						t.Fatal(err)
					}
					if !tc.edit(&mp) {
						t.Fatal("edit found nothing to break")
					}
					if blob, err = proto.Marshal(&mp); err != nil {
						t.Fatal(err)
					}
				}
				worst, ok := parity(runORT(t, blob, kind, f.tab, f.seq), ref)
				if ok {
					t.Fatalf("broken export passed parity (max |Δ| %v)", worst)
				}
				t.Logf("caught: max |Δ| %v", worst)
			})
		}
	}
}

func cloneModel(t *testing.T, m *nn.Model) *nn.Model {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var c nn.Model
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}
