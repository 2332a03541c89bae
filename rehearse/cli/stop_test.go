package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStopMessage(t *testing.T) {
	assert.Contains(t, stopMessage([]string{"run", "--keep"}), "deleting the throwaway cluster")
	assert.Contains(t, stopMessage([]string{"-v", "cluster", "create"}), "deleting what was made")
	assert.Empty(t, stopMessage([]string{"canary", "serve", "--addr", ":8080"}), "the canary logs its own drain")
	assert.Equal(t, "stopping (a second signal quits at once)", stopMessage([]string{"load", "--rate", "10"}))
	assert.NotContains(t, stopMessage([]string{"canary", "deploy"}), "cluster")
}
