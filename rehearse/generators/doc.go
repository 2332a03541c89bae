// Package generators runs the load from inside the cluster: N generator
// pods (rehearse load in the canary image, each a DaemonSet pinned to one
// node, so drains leave it), each sending its share of the rate open-loop
// and streaming every result to its log. A Runner follows the logs through
// the API, merges the results by send time into one exact stream, tags
// them with the rehearsal's phases and accounts for load a lost generator
// never sent.
package generators
