package ghsim

import "os"

// scratchRoot is where simulators keep their repositories: the system's
// temporary directory, or a memory-backed one when TMPDIR does not name
// one and the system has a roomy one (memoryTempDir). The repositories
// are many small files written and removed at once, and git creates
// some with every run; on a disk file system creating and removing them
// costs as much as git's own work.
func scratchRoot() string {
	if os.Getenv("TMPDIR") == "" {
		if dir, ok := memoryTempDir(); ok {
			return dir
		}
	}
	return os.TempDir()
}
