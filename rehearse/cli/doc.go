// Package cli is rehearse's command line: one small file per command, each
// turning flags into library options and calling the library. Main wires
// signals and streams; Run is what tests call, with buffers for streams.
package cli
