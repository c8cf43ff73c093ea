package nn

import (
	"encoding/json"
	"fmt"
)

// checkpointVersion 2: ZILN trains with the hand-written fused
// multiply-add kernels, whose weights differ in the last bits from version
// 1's; a version-1 checkpoint is not resumed (training restarts), so a run
// that crosses the upgrade still ends with the weights of the new code.
const checkpointVersion = 2

// Checkpoint is the complete state of a training run between two epochs:
// finished members, and for the member in progress its parameters, Adam
// moments and step, best weights, best validation loss and patience counter.
// Shuffling and splits are derived from (seed, member, epoch), so nothing
// else is needed to continue bit-identically.
type Checkpoint struct {
	Version int `json:"version"`
	// Fingerprint is the SHA-256 of the configuration and training data.
	Fingerprint string `json:"fingerprint"`
	// Member is the member in progress; Done holds the finished ones.
	Member      int             `json:"member"`
	Done        []Network       `json:"done"`
	DoneSummary []MemberSummary `json:"done_summary"`
	// Epoch is the number of epochs completed by the member in progress.
	Epoch int `json:"epoch"`
	// Step is Adam's step count; AdamM and AdamV its moments.
	Step   int   `json:"step"`
	Params []Vec `json:"params"`
	AdamM  []Vec `json:"adam_m"`
	AdamV  []Vec `json:"adam_v"`
	// Best are the parameters with the lowest validation loss so far.
	HasBest     bool    `json:"has_best"`
	BestValLoss float64 `json:"best_val_loss"`
	BestEpoch   int     `json:"best_epoch"`
	SinceBest   int     `json:"since_best"`
	Best        []Vec   `json:"best"`
}

// MarshalBinary encodes the checkpoint (JSON with exact base64 floats).
func (c *Checkpoint) MarshalBinary() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("nn: encode checkpoint: %w", err)
	}
	return b, nil
}

// UnmarshalBinary decodes a checkpoint written by MarshalBinary.
func (c *Checkpoint) UnmarshalBinary(b []byte) error {
	var d Checkpoint
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("nn: decode checkpoint: %w", err)
	}
	if d.Version != checkpointVersion {
		return fmt.Errorf("nn: checkpoint version %d, want %d", d.Version, checkpointVersion)
	}
	*c = d
	return nil
}

// validate checks the checkpoint's shapes against the configuration.
func (c *Checkpoint) validate(cfg Config) error {
	if c.Member < 0 || c.Member > cfg.Ensemble || len(c.Done) != c.Member || len(c.DoneSummary) != c.Member {
		return fmt.Errorf("nn: checkpoint: member %d with %d finished members, ensemble %d", c.Member, len(c.Done), cfg.Ensemble)
	}
	shape := newNetworkShape(cfg)
	for i := range c.Done {
		if err := shape.check(&c.Done[i]); err != nil {
			return fmt.Errorf("nn: checkpoint: finished member %d: %w", i, err)
		}
	}
	if c.Params == nil {
		return nil
	}
	shapes := paramShapes(cfg)
	check := func(name string, vs []Vec) error {
		if len(vs) != len(shapes) {
			return fmt.Errorf("nn: checkpoint: %s has %d tensors, want %d", name, len(vs), len(shapes))
		}
		for i, s := range shapes {
			if len(vs[i]) != s.rows*s.cols {
				return fmt.Errorf("nn: checkpoint: %s tensor %s has %d values, want %d", name, s.name, len(vs[i]), s.rows*s.cols)
			}
		}
		return nil
	}
	for _, p := range []struct {
		name string
		v    []Vec
	}{{"params", c.Params}, {"adam_m", c.AdamM}, {"adam_v", c.AdamV}} {
		if err := check(p.name, p.v); err != nil {
			return err
		}
	}
	if c.HasBest {
		if err := check("best", c.Best); err != nil {
			return err
		}
	}
	if c.Epoch < 0 || c.Epoch > cfg.MaxEpochs || c.Step < 0 {
		return fmt.Errorf("nn: checkpoint: epoch %d step %d out of range", c.Epoch, c.Step)
	}
	return nil
}

// clone deep-copies the checkpoint.
func (c *Checkpoint) clone() *Checkpoint {
	d := *c
	d.Done = make([]Network, len(c.Done))
	for i := range c.Done {
		d.Done[i] = c.Done[i].clone()
	}
	d.DoneSummary = append([]MemberSummary(nil), c.DoneSummary...)
	if c.Params != nil {
		d.Params = cloneVecs(c.Params)
		d.AdamM = cloneVecs(c.AdamM)
		d.AdamV = cloneVecs(c.AdamV)
	}
	if c.Best != nil {
		d.Best = cloneVecs(c.Best)
	}
	return &d
}

// resetMember clears the per-member state after a member finished.
func (c *Checkpoint) resetMember() {
	c.Epoch, c.Step, c.BestEpoch, c.SinceBest, c.HasBest, c.BestValLoss = 0, 0, 0, 0, false, 0
	c.Params, c.AdamM, c.AdamV, c.Best = nil, nil, nil, nil
}

// clone deep-copies a network.
func (n Network) clone() Network {
	out := Network{Head: n.Head.clone()}
	if n.Conv != nil {
		cv := *n.Conv
		cv.W, cv.B = append(Vec(nil), cv.W...), append(Vec(nil), cv.B...)
		out.Conv = &cv
	}
	for _, d := range n.Hidden {
		out.Hidden = append(out.Hidden, d.clone())
	}
	return out
}

func (d Dense) clone() Dense {
	d.W, d.B = append(Vec(nil), d.W...), append(Vec(nil), d.B...)
	return d
}
