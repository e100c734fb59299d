//go:build !linux

package ghsim

func memoryTempDir() (string, bool) { return "", false }
