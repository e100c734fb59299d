package ghsim

import (
	"os"
	"syscall"
)

// memoryTempDir is /dev/shm when it is a writable tmpfs with room to
// spare (a container's default one holds only 64 MB).
func memoryTempDir() (string, bool) {
	const dir, tmpfsMagic, room = "/dev/shm", 0x01021994, 512 << 20
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Type != tmpfsMagic {
		return "", false
	}
	if uint64(st.Bavail)*uint64(st.Bsize) < room || syscall.Access(dir, 2 /* W_OK */) != nil {
		return "", false
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", false
	}
	return dir, true
}
