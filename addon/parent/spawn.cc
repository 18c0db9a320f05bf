// Starting husk-init from a multithreaded Node process: everything is prepared first (memfds,
// sockets), then common/launch.cc moves the fds high and vforks; the child only dup3s and
// execveats (both async-signal-safe, no allocation), so no lock held by another Node thread
// can bite.
#include "spawn.h"

#include <mutex>

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/launch.h"
#include "../common/protocol.h"
#include "unix_stream.h"

static int sealed_copy_of(const std::string &path) {
  // One sealed copy per process: the init's /proc/self/exe is this memfd, never a host file a
  // container could open for writing (CVE-2019-5736). Spawns run on the pool's threads too.
  static std::mutex lock;
  static int cached = -1;
  std::lock_guard<std::mutex> held(lock);
  if (cached >= 0) return cached;
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return -1;
  struct stat st;
  if (fstat(src, &st) < 0) {
    close(src);
    return -1;
  }
  int mfd = memfd_create("husk-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) {
    close(src);
    return -1;
  }
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(src);
      close(mfd);
      errno = e;
      return -1;
    }
  }
  close(src);
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
    int e = errno;
    close(mfd);
    errno = e;
    return -1;
  }
  cached = mfd;
  return mfd;
}

static int plan_memfd(const uint8_t *plan, size_t len) {
  int fd = memfd_create("husk-plan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, plan + off, len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    off += (size_t)n;
  }
  fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  return fd;
}


int prepare_init(const spawn_request &req, spawn_prepared *out, const char **what) {
  out->exe = sealed_copy_of(req.init_path);
  if (out->exe < 0) {
    *what = "copy husk-init into a sealed memfd";
    return -errno;
  }
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
    *what = "socketpair";
    return -errno;
  }
  out->sync_fd = sp[0];
  out->slots[FD_SYNC] = sp[1];
  int err = 0;
  out->slots[FD_PLAN] = plan_memfd(req.plan, req.plan_len);
  if (out->slots[FD_PLAN] < 0) {
    err = -errno;
    *what = "write the plan to a memfd";
    goto fail;
  }
  if (!req.fifo.empty()) {
    // Only the fifo, nothing that leads to the state dir. Read-write: the init waits for start's
    // byte on it, then adds one of its own once its startContainer hooks passed (start counts
    // them), and as a writer itself it never sees an end-of-file from a writer that came and went.
    out->slots[FD_FIFO] = open(req.fifo.c_str(), O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (out->slots[FD_FIFO] < 0) {
      err = -errno;
      *what = "open the exec fifo";
      goto fail;
    }
  }
  if (!req.console_socket.empty()) {
    out->slots[FD_CONSOLE] = connect_unix_stream(req.console_socket.c_str());
    if (out->slots[FD_CONSOLE] < 0) {
      err = -errno;
      *what = "connect to the console socket";
      goto fail;
    }
  }
  return 0;
fail:
  release_prepared(out, false);
  return err;
}

void release_prepared(spawn_prepared *p, bool keep_sync) {
  for (int i = 0; i < FD_SLOTS; i++) {
    if (p->slots[i] >= 0) close(p->slots[i]);
    p->slots[i] = -1;
  }
  if (!keep_sync && p->sync_fd >= 0) close(p->sync_fd);
  if (!keep_sync) p->sync_fd = -1;
}

int spawn_init(const spawn_request &req, spawn_result *out, const char **what) {
  spawn_prepared p;
  int err = prepare_init(req, &p, what);
  if (err < 0) return err;
  int pid = launch_init(p.exe, p.slots, req.preserve_fds, req.stdio, what);
  release_prepared(&p, pid > 0);
  if (pid < 0) return pid;
  out->pid = pid;
  out->sync_fd = p.sync_fd;
  return 0;
}
