#pragma once
#include <stddef.h>
// Returns 0 or -errno; on a verifier error, log holds its text.
int attach_device_program(const char *cgroup_dir, const void *insns, size_t len, char *log, size_t log_len);
