package main

import (
	"io"
	"slices"
	"testing"
)

// newRootCmd adds every command once; --help lists them by name.
func TestRootCommands(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	var got []string
	for _, c := range root.Commands() {
		got = append(got, c.Name())
	}
	want := []string{"approve", "backtest", "codec-server", "config", "dev", "gen", "ingest", "models", "predict", "realise", "reject", "report", "result",
		"rollback", "schedule", "score", "serve", "status", "train", "version", "worker"}
	if !slices.Equal(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
}
