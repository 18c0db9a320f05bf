// Waiting for processes: pidfds watched by the event loop (a thread of the pool only where the
// kernel has no pidfd_open), and reaping.
#include "napi_common.h"

// A pidfd of any process (ours or not), -1 when there is no such process.
static Napi::Value PidfdOpen(const Napi::CallbackInfo &info) {
  int fd = (int)syscall(SYS_pidfd_open, info[0].As<Napi::Number>().Int32Value(), 0);
  if (fd < 0 && errno != ESRCH) throw errno_error(info.Env(), errno, "pidfd_open");
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), fd);
}

// Until the process of a pidfd exits; closes the fd. For a container this process did not
// start: no polling, no thread.
static Napi::Value WaitPidfd(const Napi::CallbackInfo &info) {
  return fdwait(info.Env(), info[0].As<Napi::Number>().Int32Value(), true, -1, "husk:pidfd", [](FdWait *w, bool) {
    close(w->fd);
    w->deferred.Resolve(Napi::Env(w->env).Undefined());
  });
}

static Napi::Object status_object(Napi::Env env, int status) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  o.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  return o;
}

class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, int pid) : Napi::AsyncWorker(env), pid_(pid), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    int rc;
    do rc = waitpid(pid_, &status_, __WALL);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) err_ = errno;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      deferred_.Reject(errno_error(env, err_, "waitpid").Value());
      return;
    }
    deferred_.Resolve(status_object(env, status_));
  }

 private:
  int pid_;
  int status_ = 0;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

// The exit status of a child of ours. Its pidfd is watched by the event loop; a kernel without
// pidfd_open (< 5.3) gets a thread of the pool that blocks in waitpid.
static Napi::Value Wait(const Napi::CallbackInfo &info) {
  int pid = info[0].As<Napi::Number>().Int32Value();
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0) {
    auto *w = new WaitWorker(info.Env(), pid);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }
  fcntl(pfd, F_SETFD, FD_CLOEXEC);
  return fdwait(info.Env(), pfd, true, -1, "husk:wait", [pid](FdWait *w, bool) {
    Napi::Env env(w->env);
    close(w->fd);
    int status = 0;
    int rc;
    do rc = waitpid(pid, &status, __WALL | WNOHANG);
    while (rc < 0 && errno == EINTR);
    // Readable means exited, so WNOHANG finds it; should it not, wait for it the blocking way.
    if (rc == 0) {
      do rc = waitpid(pid, &status, __WALL);
      while (rc < 0 && errno == EINTR);
    }
    if (rc < 0) w->deferred.Reject(errno_error(env, errno, "waitpid").Value());
    else w->deferred.Resolve(status_object(env, status));
  });
}

// Reaps a child if it has exited; returns its status or null.
static Napi::Value Reap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int pid = info[0].As<Napi::Number>().Int32Value();
  bool block = info.Length() > 1 && info[1].ToBoolean();
  int status = 0;
  int rc;
  do rc = waitpid(pid, &status, block ? __WALL : (WNOHANG | __WALL));
  while (rc < 0 && errno == EINTR);
  if (rc <= 0) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  o.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  return o;
}

void register_processes(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("waitPidfd", Napi::Function::New(env, WaitPidfd));
  exports.Set("wait", Napi::Function::New(env, Wait));
  exports.Set("reap", Napi::Function::New(env, Reap));
}
