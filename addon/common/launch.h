// Starting husk-init once its fds are ready: shared by the addon (husk starts the init itself)
// and by the front binary (the husk server prepares the fds, the caller's own process starts the
// init, so the init is the caller's child exactly as under runc).
#pragma once
#include "protocol.h"

// exe: a sealed memfd of husk-init. slots: the fds the init finds at 3+preserve_fds+slot (-1:
// none). preserve_fds: fds 3..3+n-1 of this process go to the container as they are. stdio: the
// container's 0, 1, 2 (-1: this process's own). Returns the pid, or -errno with *what naming the
// step. Nothing is allocated between vfork and exec.
int launch_init(int exe, const int slots[FD_SLOTS], int preserve_fds, const int stdio[3], const char **what);
