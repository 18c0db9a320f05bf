#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string>

struct spawn_request {
  std::string init_path;     // husk-init on the host; copied into a sealed memfd before exec
  const uint8_t *plan;
  size_t plan_len;
  std::string fifo;          // the exec fifo: its read end goes to the init; empty: none
  std::string console_socket;// connected here, the fd goes to the init; empty: none
  int preserve_fds;          // fds 3 .. 3+n-1 of this process go to the container as they are
  int stdio[3] = {-1, -1, -1};  // the container's 0, 1, 2 (-1: this process's own)
};

struct spawn_result {
  int pid;
  int sync_fd;
};

// Everything the init needs, ready to launch (common/launch.h): the sealed husk-init (kept by
// this process, not to be closed), the fds for its slots, and our end of the sync socket.
struct spawn_prepared {
  int exe = -1;
  int slots[4] = {-1, -1, -1, -1};
  int sync_fd = -1;
};
int prepare_init(const spawn_request &req, spawn_prepared *out, const char **what);
void release_prepared(spawn_prepared *p, bool keep_sync);

// Returns 0 or -errno with *what naming the step that failed.
int spawn_init(const spawn_request &req, spawn_result *out, const char **what);
