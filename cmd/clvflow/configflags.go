package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/clvflow/clvflow/config"
	"github.com/spf13/pflag"
)

// A config flag overrides one config key for one command. Only a flag the
// user gave (pflag's Changed) replaces the key's value from the built-in
// defaults, clvflow.yaml and CLVFLOW_* variables; a flag left out keeps that
// value. So no flag value stands for "not given": --snapshots 0 means 0.

// configFlag is one flag bound to a config key.
type configFlag struct {
	name string // flag name, without --
	key  string // config key it overrides
	// set checks the flag's value and stores it in the config.
	set func(cfg *config.Config) error
}

// configFlags are a command's config flags, in registration order.
type configFlags []configFlag

// apply stores the value of every flag the user gave in cfg, in
// registration order; the first value its check refuses is the error.
func (cf configFlags) apply(fs *pflag.FlagSet, cfg *config.Config) error {
	for _, f := range cf {
		if !fs.Changed(f.name) {
			continue
		}
		if err := f.set(cfg); err != nil {
			return err
		}
	}
	return nil
}

// flagDefiner is pflag's XxxVar method of a flag set for type T, e.g.
// fs.IntVar or fs.StringSliceVar.
type flagDefiner[T any] func(p *T, name string, value T, usage string)

// bindConfigFlag defines flag name with define and binds it to the config
// field that field selects (config key key). check, when not nil, vets a
// given value; its error reads "--NAME VALUE: ERROR". The help text names
// the key and its built-in default.
func bindConfigFlag[T any](cf *configFlags, define flagDefiner[T], name, key, usage string, field func(*config.Config) *T, check func(T) error) {
	val := new(T)
	def := config.Default()
	var zero T // no default in the flag itself: only a given flag counts
	define(val, name, zero, configFlagUsage(usage, key, *field(&def)))
	*cf = append(*cf, configFlag{name: name, key: key, set: func(cfg *config.Config) error {
		if check != nil {
			if err := check(*val); err != nil {
				return fmt.Errorf("--%s %s: %w", name, showValue(*val), err)
			}
		}
		*field(cfg) = *val
		return nil
	}})
}

// configFlagUsage is the help text of a flag that overrides key.
func configFlagUsage(usage, key string, builtIn any) string {
	return fmt.Sprintf("%s (default: config key %s, built-in %s)", usage, key, showValue(builtIn))
}

// showValue prints a flag or config value: strings quoted, lists
// comma-separated as they are typed on the command line.
func showValue(v any) string {
	switch v := v.(type) {
	case []string:
		return strings.Join(v, ",")
	case string:
		return strconv.Quote(v)
	}
	return fmt.Sprint(v)
}

// checkValue returns a check that refuses the values ok refuses, with the
// error message msg (what a right value looks like).
func checkValue[T any](ok func(T) bool, msg string) func(T) error {
	return func(v T) error {
		if ok(v) {
			return nil
		}
		return errors.New(msg)
	}
}
