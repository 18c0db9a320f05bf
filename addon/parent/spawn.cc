// Starting husk-init from a multithreaded Node process: everything is prepared first (memfds,
// sockets, fds moved high), then vfork; the child only dup3s and execveats (both
// async-signal-safe, no allocation), so no lock held by another Node thread can bite.
#include "spawn.h"

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

#include "../common/protocol.h"
#include "unix_stream.h"

static int sealed_copy_of(const std::string &path) {
  // One sealed copy per process: the init's /proc/self/exe is this memfd, never a host file a
  // container could open for writing (CVE-2019-5736).
  static int cached = -1;
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


int spawn_init(const spawn_request &req, spawn_result *out, const char **what) {
  int slots[FD_SLOTS] = {-1, -1, -1, -1};
  int high[FD_SLOTS] = {-1, -1, -1, -1};
  int high_stdio[3] = {-1, -1, -1};
  int parent_sock = -1;
  int err = 0;
  int exe = -1;
  const int base = 3 + req.preserve_fds;
  char base_arg[16];
  snprintf(base_arg, sizeof base_arg, "%d", base);
  char *const argv[] = {(char *)"husk-init", base_arg, nullptr};
  char *const envp[] = {nullptr};
  sigset_t all, old;
  pid_t pid;

  if (req.preserve_fds < 0 || req.preserve_fds > 512) {
    *what = "--preserve-fds out of range";
    return -EINVAL;
  }
  exe = sealed_copy_of(req.init_path);
  if (exe < 0) {
    *what = "copy husk-init into a sealed memfd";
    return -errno;
  }
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
    *what = "socketpair";
    return -errno;
  }
  parent_sock = sp[0];
  slots[FD_SYNC] = sp[1];
  slots[FD_PLAN] = plan_memfd(req.plan, req.plan_len);
  if (slots[FD_PLAN] < 0) {
    err = -errno;
    *what = "write the plan to a memfd";
    goto fail;
  }
  if (!req.fifo.empty()) {
    // Only the fifo's read end: the waiting init holds nothing that leads to the state dir.
    slots[FD_FIFO] = open(req.fifo.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (slots[FD_FIFO] < 0) {
      err = -errno;
      *what = "open the exec fifo";
      goto fail;
    }
  }
  if (!req.console_socket.empty()) {
    slots[FD_CONSOLE] = connect_unix_stream(req.console_socket.c_str());
    if (slots[FD_CONSOLE] < 0) {
      err = -errno;
      *what = "connect to the console socket";
      goto fail;
    }
  }
  // Above every fd the child keeps, so the dup3s below never overwrite one another.
  for (int i = 0; i < FD_SLOTS; i++) {
    if (slots[i] < 0) continue;
    high[i] = fcntl(slots[i], F_DUPFD_CLOEXEC, base + FD_SLOTS + 16);
    if (high[i] < 0) {
      err = -errno;
      *what = "dup fds for the init";
      goto fail;
    }
  }

  for (int i = 0; i < 3; i++) {
    if (req.stdio[i] < 0) continue;
    high_stdio[i] = fcntl(req.stdio[i], F_DUPFD_CLOEXEC, base + FD_SLOTS + 16);
    if (high_stdio[i] < 0) {
      err = -errno;
      *what = "dup the stdio fds for the init";
      goto fail;
    }
  }

  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid = vfork();
  if (pid == 0) {
    for (int i = 0; i < 3; i++)
      if (high_stdio[i] >= 0 && dup3(high_stdio[i], i, 0) < 0) _exit(126);
    for (int i = 0; i < FD_SLOTS; i++) {
      if (high[i] >= 0) {
        if (dup3(high[i], base + i, 0) < 0) _exit(126);
      } else {
        close(base + i);
      }
    }
    // Node marks its stdio close-on-exec; the container gets 0-2 and the preserved fds.
    for (int fd = 0; fd < base; fd++) fcntl(fd, F_SETFD, 0);
    syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
    _exit(127);
  }
  err = pid < 0 ? -errno : 0;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    *what = "vfork";
    goto fail;
  }
  for (int i = 0; i < FD_SLOTS; i++) {
    if (slots[i] >= 0) close(slots[i]);
    if (high[i] >= 0) close(high[i]);
  }
  for (int i = 0; i < 3; i++)
    if (high_stdio[i] >= 0) close(high_stdio[i]);
  out->pid = pid;
  out->sync_fd = parent_sock;
  return 0;

fail:
  for (int i = 0; i < FD_SLOTS; i++) {
    if (slots[i] >= 0) close(slots[i]);
    if (high[i] >= 0) close(high[i]);
  }
  for (int i = 0; i < 3; i++)
    if (high_stdio[i] >= 0) close(high_stdio[i]);
  if (parent_sock >= 0) close(parent_sock);
  return err;
}
