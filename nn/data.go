package nn

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/clvflow/clvflow/modelkind"
)

// Data is a training set: one row per customer.
type Data struct {
	// Tabular holds NumTabular raw base features per row (TabularColumns).
	Tabular [][]float64
	// Seq holds 2·SeqWeeks raw values per row, channel-major (spend weeks,
	// then purchase-day weeks, oldest first); required for modelkind.Seq, ignored
	// otherwise.
	Seq [][]float64
	// Label is the holdout spend. Rows with Label > 0 count as buyers; labels
	// ≤ 0 count as "did not buy".
	Label []float64
	// Group optionally names the customer of each row when one customer has
	// several rows (training snapshots at several cutoffs): the validation
	// split of early stopping then keeps all rows of a group on one side.
	// Nil means every row is its own group.
	Group []int
}

// ErrNoPositiveLabels is returned when no training row has a label > 0.
var ErrNoPositiveLabels = errors.New("nn: no training row has a label > 0; the lognormal part cannot be fitted")

// MinTrainRows is the smallest accepted training set.
const MinTrainRows = 10

// validate checks shapes and finiteness of d for configuration c.
func (d *Data) validate(c Config) error {
	n := len(d.Label)
	if len(d.Tabular) != n {
		return fmt.Errorf("nn: data has %d tabular rows but %d labels", len(d.Tabular), n)
	}
	if n < MinTrainRows {
		return fmt.Errorf("nn: data has %d rows, need at least %d", n, MinTrainRows)
	}
	if d.Group != nil && len(d.Group) != n {
		return fmt.Errorf("nn: data has %d group ids for %d rows", len(d.Group), n)
	}
	if c.Kind == modelkind.Seq && len(d.Seq) != n {
		return fmt.Errorf("nn: seq model needs a sequence per row: %d sequences for %d rows", len(d.Seq), n)
	}
	w := NumSeqChannels * c.SeqWeeks
	pos := 0
	for i := 0; i < n; i++ {
		if len(d.Tabular[i]) != NumTabular {
			return fmt.Errorf("nn: data row %d has %d tabular values, want %d (%v)", i, len(d.Tabular[i]), NumTabular, TabularColumns)
		}
		for j, v := range d.Tabular[i] {
			if !finite(v) {
				return fmt.Errorf("nn: data row %d column %d (%s) is %v", i, j, TabularColumns[j], v)
			}
		}
		if !finite(d.Label[i]) {
			return fmt.Errorf("nn: data row %d label is %v", i, d.Label[i])
		}
		if d.Label[i] > 0 {
			pos++
		}
		if c.Kind != modelkind.Seq {
			continue
		}
		if len(d.Seq[i]) != w {
			return fmt.Errorf("nn: data row %d sequence has %d values, want %d (2 channels × %d weeks)", i, len(d.Seq[i]), w, c.SeqWeeks)
		}
		for j, v := range d.Seq[i] {
			if !finite(v) {
				return fmt.Errorf("nn: data row %d sequence channel %s week %d is %v", i, SeqChannels[j/c.SeqWeeks], j%c.SeqWeeks, v)
			}
		}
	}
	if pos == 0 {
		return ErrNoPositiveLabels
	}
	return nil
}

// fitPreprocessing computes the transformation statistics on all rows of d.
func fitPreprocessing(c Config, d *Data) Preprocessing {
	width := c.InputWidth()
	p := Preprocessing{Log1p: make([]bool, NumTabular), TabMean: make(Vec, width), TabStd: make(Vec, width)}
	for _, col := range c.LogColumns {
		p.Log1p[col] = true
	}
	if c.RateFeatures {
		p.Rates = append([][2]int(nil), RateColumns...)
	}
	p.fitTabular(d.Tabular, width)
	if c.Kind == modelkind.Seq {
		p.fitSequence(d.Seq, c.SeqWeeks)
	}
	return p
}

// fitTabular sets the mean, standard deviation and range of the
// transformed tabular columns. Two passes over the rows, each transforming
// them again instead of keeping a transformed copy of the data; every
// column's sums add the rows in the same order as before, so the
// statistics are bit for bit those of a stored copy.
func (p *Preprocessing) fitTabular(rows [][]float64, width int) {
	n := float64(len(rows))
	z := make([]float64, width)
	s, ss := make([]float64, width), make([]float64, width)
	for _, row := range rows {
		p.transform(row, z)
		for j, v := range z {
			s[j] += v
		}
	}
	for j := range s {
		p.TabMean[j] = s[j] / n
	}
	for _, row := range rows {
		p.transform(row, z)
		for j, v := range z {
			ss[j] += (v - p.TabMean[j]) * (v - p.TabMean[j])
		}
	}
	for j := range ss {
		p.TabStd[j] = safeStd(ss[j] / n)
	}
	p.TabLo, p.TabHi = make(Vec, width), make(Vec, width)
	for i, row := range rows {
		p.tabularUnclamped(row, z)
		for j, v := range z {
			if i == 0 || v < p.TabLo[j] {
				p.TabLo[j] = v
			}
			if i == 0 || v > p.TabHi[j] {
				p.TabHi[j] = v
			}
		}
	}
}

// fitSequence sets the mean and standard deviation of each sequence
// channel's log1p values, and the range of the standardised values.
func (p *Preprocessing) fitSequence(rows [][]float64, w int) {
	p.SeqMean, p.SeqStd = make(Vec, NumSeqChannels), make(Vec, NumSeqChannels)
	cnt := float64(len(rows)) * float64(w)
	for ch := 0; ch < NumSeqChannels; ch++ {
		var s, ss float64
		for _, row := range rows {
			for _, v := range row[ch*w : (ch+1)*w] {
				s += math.Log1p(math.Max(v, 0))
			}
		}
		mean := s / cnt
		for _, row := range rows {
			for _, v := range row[ch*w : (ch+1)*w] {
				dv := math.Log1p(math.Max(v, 0)) - mean
				ss += dv * dv
			}
		}
		p.SeqMean[ch], p.SeqStd[ch] = mean, safeStd(ss/cnt)
	}
	p.SeqLo, p.SeqHi = make(Vec, NumSeqChannels), make(Vec, NumSeqChannels)
	q := make([]float64, NumSeqChannels*w)
	for i, row := range rows {
		p.sequenceUnclamped(row, q)
		for j, v := range q {
			ch := j / w
			if (i == 0 && j%w == 0) || v < p.SeqLo[ch] {
				p.SeqLo[ch] = v
			}
			if (i == 0 && j%w == 0) || v > p.SeqHi[ch] {
				p.SeqHi[ch] = v
			}
		}
	}
}

func safeStd(variance float64) float64 {
	s := math.Sqrt(variance)
	if !(s > 1e-9) || !finite(s) {
		return 1
	}
	return s
}

// prepared holds the transformed training arrays.
type prepared struct {
	n      int
	weeks  int
	width  int       // standardised tabular inputs per row (Config.InputWidth)
	z      []float64 // n·width standardised tabular inputs
	q      []float64 // n·2·W standardised log1p sequences (modelkind.Seq)
	label  []float64
	group  []int     // nil: every row its own group
	bought []float64 // 1 when label > 0
	logy   []float64 // log(label) for buyers, 0 otherwise
	konst  []float64 // bought·(log y + ½·log 2π): the loss terms without gradient
	pos    int
	cap    float64
}

func prepare(c Config, p *Preprocessing, d *Data) *prepared {
	n := len(d.Label)
	width := c.InputWidth()
	pd := &prepared{n: n, width: width, z: make([]float64, n*width), label: d.Label, group: d.Group,
		bought: make([]float64, n), logy: make([]float64, n), konst: make([]float64, n)}
	halfLog2Pi := 0.5 * math.Log(2*math.Pi)
	for i, row := range d.Tabular {
		p.tabular(row, pd.z[i*width:(i+1)*width])
		y := d.Label[i]
		pd.cap = math.Max(pd.cap, y)
		if y > 0 {
			pd.pos++
			pd.bought[i] = 1
			pd.logy[i] = math.Log(y)
			pd.konst[i] = pd.logy[i] + halfLog2Pi
		}
	}
	if c.Kind == modelkind.Seq {
		w := NumSeqChannels * c.SeqWeeks
		pd.weeks = c.SeqWeeks
		pd.q = make([]float64, n*w)
		for i, row := range d.Seq {
			p.sequence(row, pd.q[i*w:(i+1)*w])
		}
	}
	return pd
}

// fingerprint identifies (config, data) so that a checkpoint is only resumed
// on the run that wrote it.
func fingerprint(c Config, d *Data) string {
	h := sha256.New()
	cj, _ := json.Marshal(c) // a Config always marshals
	h.Write(cj)
	var b [8]byte
	put := func(v float64) {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		h.Write(b[:])
	}
	put(float64(len(d.Label)))
	for i := range d.Label {
		for _, v := range d.Tabular[i] {
			put(v)
		}
		if c.Kind == modelkind.Seq {
			for _, v := range d.Seq[i] {
				put(v)
			}
		}
		put(d.Label[i])
	}
	if d.Group != nil {
		h.Write([]byte("group"))
		for _, g := range d.Group {
			put(float64(g))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
