package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// EpochReport is passed to TrainOptions.Progress after every epoch.
type EpochReport struct {
	// Member is the ensemble member (0-based) of Members.
	Member  int
	Members int
	// Epoch counts the epochs completed by this member (1-based).
	Epoch int
	// TrainLoss and ValLoss are mean ZILN negative log-likelihoods per row
	// (BCE + lognormal NLL including constants); ValLoss is NaN without
	// validation rows.
	TrainLoss float64
	ValLoss   float64
	// ValMetric is the normalized Gini of the member's expected value on the
	// validation rows (NaN without validation rows).
	ValMetric float64
	// Improved reports a new best validation loss.
	Improved bool
	// Elapsed is the wall time of the epoch (informational only).
	Elapsed time.Duration
}

// TrainOptions are the hooks of a training run; none affects the weights.
type TrainOptions struct {
	// Progress, when set, is called after every epoch.
	Progress func(EpochReport)
	// Checkpoint, when set, is called every CheckpointEvery epochs and after
	// each finished ensemble member. An error aborts training.
	Checkpoint func(*Checkpoint) error
	// CheckpointEvery is the epoch interval of Checkpoint (≤ 0 means 10).
	CheckpointEvery int
	// Resume continues the run that wrote this checkpoint (same config and
	// data, else ErrCheckpointMismatch).
	Resume *Checkpoint
}

// ErrCheckpointMismatch is returned when a checkpoint belongs to another
// configuration or data set.
var ErrCheckpointMismatch = errors.New("nn: checkpoint does not match this configuration and data")

// ErrDiverged is returned when the training loss becomes non-finite.
var ErrDiverged = errors.New("nn: training diverged (non-finite loss)")

// Train fits a model on data (the training customers only) and returns it.
// Same config, data and seed give bit-identical weights; a run resumed from a
// checkpoint ends with the same weights as an uninterrupted one.
func Train(ctx context.Context, cfg Config, data Data, opts TrainOptions) (*Model, error) {
	cfg = cfg.clone()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := data.validate(cfg); err != nil {
		return nil, err
	}
	prep := fitPreprocessing(cfg, &data)
	pd := prepare(cfg, &prep, &data)
	fp := fingerprint(cfg, &data)

	st := &Checkpoint{Version: checkpointVersion, Fingerprint: fp}
	if r := opts.Resume; r != nil {
		if r.Fingerprint != fp {
			return nil, ErrCheckpointMismatch
		}
		if err := r.validate(cfg); err != nil {
			return nil, err
		}
		st = r.clone()
	}
	every := opts.CheckpointEvery
	if every <= 0 {
		every = 10
	}
	for st.Member < cfg.Ensemble {
		if err := trainMember(ctx, cfg, pd, st, opts, every); err != nil {
			return nil, err
		}
	}
	return &Model{
		Config:    cfg,
		Prep:      prep,
		Members:   st.Done,
		ValueCap:  pd.cap,
		TrainRows: pd.n,
		Positives: pd.pos,
		Summary:   st.DoneSummary,
	}, nil
}

// memberSeed derives the seed of ensemble member k.
func memberSeed(seed uint64, k int) uint64 {
	return splitmix64(seed + uint64(k)*0x9e3779b97f4a7c15)
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// RNG stream identifiers (second PCG seed word).
const (
	streamInit    = 0x696e6974 // "init"
	streamVal     = 0x76616c   // "val"
	streamShuffle = 0x73687566 << 32
)

// valSplit returns the (train, validation) row indices of a member for n
// rows: the groups (nil group: every row its own group; otherwise in order
// of first appearance) are shuffled and taken into validation until it holds
// at least round(frac·n) rows (at least one when frac > 0), so that no group
// has rows on both sides. At least one row stays in training.
func valSplit(group []int, n int, frac float64, seed uint64) (train, val []int) {
	var rows [][]int
	if group == nil {
		rows = make([][]int, n)
		for i := range rows {
			rows[i] = []int{i}
		}
	} else {
		index := map[int]int{}
		for i, g := range group {
			k, ok := index[g]
			if !ok {
				k = len(rows)
				index[g] = k
				rows = append(rows, nil)
			}
			rows[k] = append(rows[k], i)
		}
	}
	perm := make([]int, len(rows))
	for i := range perm {
		perm[i] = i
	}
	r := rand.New(rand.NewPCG(seed, streamVal))
	r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	want := int(math.Round(frac * float64(n)))
	if frac > 0 {
		want = max(want, 1)
	}
	for _, k := range perm {
		if len(val) >= want || len(val)+len(rows[k]) >= n {
			continue
		}
		val = append(val, rows[k]...)
	}
	inVal := make([]bool, n)
	for _, i := range val {
		inVal[i] = true
	}
	for i := range n {
		if !inVal[i] {
			train = append(train, i)
		}
	}
	slices.Sort(val)
	return train, val
}

// initParams draws the initial parameters of a member (He-uniform for ReLU
// layers, small Glorot-uniform head) with data-dependent head biases.
func initParams(c Config, seed uint64, pd *prepared, rows []int) []Vec {
	r := rand.New(rand.NewPCG(seed, streamInit))
	uni := func(n int, lim float64) Vec {
		v := make(Vec, n)
		for i := range v {
			v[i] = (2*r.Float64() - 1) * lim
		}
		return v
	}
	var pos, sumLog, sumLog2 float64
	for _, i := range rows {
		if pd.bought[i] > 0 {
			pos++
			sumLog += pd.logy[i]
			sumLog2 += pd.logy[i] * pd.logy[i]
		}
	}
	n := float64(len(rows))
	pRate := math.Min(math.Max(pos/n, 1e-4), 1-1e-4)
	muInit, sdInit := 0.0, 1.0
	if pos > 0 {
		muInit = sumLog / pos
		sdInit = math.Sqrt(math.Max(sumLog2/pos-muInit*muInit, 0))
	}
	sdInit = math.Max(sdInit-c.SigmaFloor, 0.05)
	heads := [HeadWidth]float64{math.Log(pRate / (1 - pRate)), muInit, math.Log(math.Expm1(sdInit))}

	var ps []Vec
	head := 0
	for _, s := range paramShapes(c) {
		switch {
		case s.rows == 1 && s.cols == 1: // head bias
			ps = append(ps, Vec{heads[head]})
			head++
		case s.rows == 1: // layer bias
			ps = append(ps, make(Vec, s.cols))
		case s.cols == 1: // head weight
			ps = append(ps, uni(s.rows, 0.1*math.Sqrt(6/float64(s.rows+1))))
		default:
			fanIn := s.rows
			if s.name == "dense0_w" || s.name == "dense0_wseq" {
				fanIn = c.InputWidth() + c.SeqPositions()*c.ConvFilters
			}
			ps = append(ps, uni(s.rows*s.cols, math.Sqrt(6/float64(fanIn))))
		}
	}
	return ps
}

// trainMember trains (or continues) the member st.Member and appends it to
// st.Done.
func trainMember(ctx context.Context, cfg Config, pd *prepared, st *Checkpoint, opts TrainOptions, every int) error {
	m := &memberRun{cfg: cfg, pd: pd, st: st, opts: opts, every: every, k: st.Member, seed: memberSeed(cfg.Seed, st.Member)}
	m.train, m.val = valSplit(pd.group, pd.n, cfg.ValFraction, m.seed)
	if st.Params == nil { // fresh member
		st.Params = initParams(cfg, m.seed, pd, m.train)
		st.Epoch, st.Step, st.BestEpoch, st.SinceBest, st.HasBest, st.BestValLoss = 0, 0, 0, 0, false, 0
		st.Best = nil
		a := newAdam(st.Params)
		st.AdamM, st.AdamV = a.m, a.v
	}
	m.params = cloneVecs(st.Params)
	m.opt = &adam{step: st.Step, m: cloneVecs(st.AdamM), v: cloneVecs(st.AdamV)}
	m.bs = min(cfg.BatchSize, len(m.train))
	tg, err := newBatchTrainer(cfg, m.bs, m.params)
	if err != nil {
		return err
	}
	defer tg.close()
	m.tg = tg
	for st.Epoch < cfg.MaxEpochs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("nn: training member %d interrupted before epoch %d: %w", m.k, st.Epoch+1, err)
		}
		stop, err := m.epoch()
		if err != nil {
			return err
		}
		if stop {
			break
		}
	}
	return m.finish()
}

// memberRun is the state of one trainMember.
type memberRun struct {
	cfg        Config
	pd         *prepared
	st         *Checkpoint
	opts       TrainOptions
	every      int
	k          int    // member
	seed       uint64 // its seed
	train, val []int
	params     []Vec
	opt        *adam
	bs         int
	tg         batchTrainer
}

// epoch runs one epoch: a shuffled pass of Adam steps, validation, the
// progress report and a checkpoint; stop says early stopping ended it.
func (m *memberRun) epoch() (stop bool, err error) {
	cfg, st := m.cfg, m.st
	start := time.Now()
	trainLoss, err := m.pass()
	if err != nil {
		return false, err
	}
	st.Epoch++
	rep := EpochReport{Member: m.k, Members: cfg.Ensemble, Epoch: st.Epoch, TrainLoss: trainLoss, ValLoss: math.NaN(), ValMetric: math.NaN()}
	if !finite(rep.TrainLoss) {
		return false, fmt.Errorf("%w: member %d epoch %d: train loss %v (try a lower lr)", ErrDiverged, m.k, st.Epoch, rep.TrainLoss)
	}
	if len(m.val) > 0 {
		if err := m.validate(&rep); err != nil {
			return false, err
		}
	}
	st.Params, st.Step = m.params, m.opt.step
	st.AdamM, st.AdamV = m.opt.m, m.opt.v
	rep.Elapsed = time.Since(start)
	if m.opts.Progress != nil {
		m.opts.Progress(rep)
	}
	stop = len(m.val) > 0 && cfg.Patience > 0 && st.SinceBest >= cfg.Patience
	if m.opts.Checkpoint != nil && !stop && st.Epoch < cfg.MaxEpochs && st.Epoch%m.every == 0 {
		if err := m.opts.Checkpoint(st.clone()); err != nil {
			return false, fmt.Errorf("nn: checkpoint after member %d epoch %d: %w", m.k, st.Epoch, err)
		}
	}
	return stop, nil
}

// pass shuffles the training rows with the epoch's seed and takes one Adam
// step per batch; it returns the mean training loss.
func (m *memberRun) pass() (float64, error) {
	order := slices.Clone(m.train)
	r := rand.New(rand.NewPCG(m.seed, streamShuffle|uint64(m.st.Epoch)))
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var sum float64
	for b := 0; b < len(order); b += m.bs {
		idx := order[b:min(b+m.bs, len(order))]
		m.tg.fill(m.pd, idx)
		cost, err := m.tg.run()
		if err != nil {
			return 0, err
		}
		grads, err := m.tg.grads()
		if err != nil {
			return 0, err
		}
		m.opt.update(m.cfg, m.params, grads)
		m.tg.reset(grads)
		var kc float64
		for _, i := range idx {
			kc += m.pd.konst[i]
		}
		sum += cost*float64(len(idx)) + kc
	}
	return sum / float64(len(order)), nil
}

// validate adds the validation loss and metric to rep and keeps the best
// parameters so far.
func (m *memberRun) validate(rep *EpochReport) error {
	st := m.st
	net := fromParams(m.cfg, m.params)
	rep.ValLoss, rep.ValMetric = evalRows(m.cfg, &net, m.pd, m.val)
	if !finite(rep.ValLoss) {
		return fmt.Errorf("%w: member %d epoch %d: validation loss %v", ErrDiverged, m.k, st.Epoch, rep.ValLoss)
	}
	if !st.HasBest || rep.ValLoss < st.BestValLoss {
		st.HasBest, st.BestValLoss, st.BestEpoch, st.SinceBest = true, rep.ValLoss, st.Epoch, 0
		st.Best = cloneVecs(m.params)
		rep.Improved = true
	} else {
		st.SinceBest++
	}
	return nil
}

// finish appends the member (its best parameters when validated) to
// st.Done, moves on to the next member and checkpoints.
func (m *memberRun) finish() error {
	st := m.st
	final := m.params
	sum := MemberSummary{Seed: m.seed, TrainRows: len(m.train), ValRows: len(m.val), Epochs: st.Epoch, BestEpoch: st.Epoch}
	if st.HasBest {
		final = st.Best
		sum.BestEpoch, sum.BestValLoss = st.BestEpoch, st.BestValLoss
	}
	st.Done = append(st.Done, fromParams(m.cfg, final))
	st.DoneSummary = append(st.DoneSummary, sum)
	st.Member++
	st.resetMember()
	if m.opts.Checkpoint != nil && st.Member < m.cfg.Ensemble {
		if err := m.opts.Checkpoint(st.clone()); err != nil {
			return fmt.Errorf("nn: checkpoint after member %d: %w", m.k, err)
		}
	}
	return nil
}

// evalRows returns the mean ZILN loss and the normalized Gini of the
// expected value of one network on the given rows.
func evalRows(c Config, n *Network, pd *prepared, rows []int) (loss, gini float64) {
	width := c.InputWidth() + c.SeqPositions()*c.ConvFilters
	for _, h := range c.Hidden {
		width = max(width, h)
	}
	bufA, bufB := make([]float64, width), make([]float64, width)
	wk := NumSeqChannels * pd.weeks
	pred := make([]float64, len(rows))
	actual := make([]float64, len(rows))
	for r, i := range rows {
		var q []float64
		if pd.q != nil {
			q = pd.q[i*wk : (i+1)*wk]
		}
		h := runNetwork64(n, pd.z[i*pd.width:(i+1)*pd.width], q, bufA, bufB)
		loss += zilnLoss(h, pd.bought[i], pd.logy[i], c.SigmaFloor) + pd.konst[i]
		_, _, _, logE := zilnParams(h, c.SigmaFloor)
		pred[r], actual[r] = logE, pd.label[i]
	}
	return loss / float64(len(rows)), normalizedGini(pred, actual)
}

// zilnLoss is the per-row loss of the training graph (without constants).
func zilnLoss(h [HeadWidth]float64, bought, logy, floor float64) float64 {
	l := h[HeadLogit]
	loss := softplus64(l) - bought*l
	if bought > 0 {
		sigma := softplus64(h[HeadSigma]) + floor
		r := (logy - h[HeadMu]) / sigma
		loss += math.Log(sigma) + 0.5*r*r
	}
	return loss
}

// normalizedGini is the Gini of actual ordered by pred (descending, stable
// on ties by index) divided by the Gini of the perfect order.
func normalizedGini(pred, actual []float64) float64 {
	g := func(key []float64) float64 {
		idx := make([]int, len(key))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case key[a] > key[b]:
				return -1
			case key[a] < key[b]:
				return 1
			}
			return 0
		})
		var total float64
		for _, v := range actual {
			total += v
		}
		if total == 0 {
			return math.NaN()
		}
		var cum, s float64
		for _, i := range idx {
			cum += actual[i]
			s += cum / total
		}
		return 2*s/float64(len(idx)) - 1
	}
	return g(pred) / g(actual)
}
