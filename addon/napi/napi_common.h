// What the N-API files of the addon share: the error convention and the event-loop wait.
#pragma once
#include <napi.h>
#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

// The one error convention of the parent code: a JS Error whose message is "what: strerror",
// with `errno` (the number) and `code` (its name, as Node's own errors have: "EBUSY", "EACCES").
Napi::Error errno_error(Napi::Env env, int err, const std::string &what);

// Waiting without a thread: the fd is watched by the event loop (uv_poll), so any number of
// containers can be started and waited for at once (a thread of the pool per wait would let
// four long waits hold up everything else the pool does). The outcome is handed to `done` on
// the main thread, inside a callback scope so that promise reactions run right after.
struct FdWait {
  uv_poll_t poll;
  uv_timer_t timer;
  bool has_timer = false;
  bool finished = false;
  int open_handles = 0;
  int fd;
  napi_env env;
  Napi::Promise::Deferred deferred;
  Napi::AsyncContext context;
  std::function<void(FdWait *, bool)> done;
  FdWait(Napi::Env e, int f, const char *name)
      : fd(f), env(e), deferred(Napi::Promise::Deferred::New(e)), context(e, name) {}
};

// timeout_ms < 0: no time limit. An fd the wait owns (owned) is closed also when it cannot start.
// `done` runs on the main thread with readable=false when the timer fired first.
Napi::Promise fdwait(Napi::Env env, int fd, bool owned, int timeout_ms, const char *name,
                     std::function<void(FdWait *, bool)> done);

// One file of exports each.
void register_launch(Napi::Env env, Napi::Object exports);
void register_processes(Napi::Env env, Napi::Object exports);
void register_files(Napi::Env env, Napi::Object exports);
void register_sockets(Napi::Env env, Napi::Object exports);
void register_server(Napi::Env env, Napi::Object exports);
void register_filters(Napi::Env env, Napi::Object exports);
