// Waiting without a thread: an fd watched by the event loop (uv_poll), with an optional timer.
#include "napi_common.h"

static void fdwait_closed(uv_handle_t *h) {
  FdWait *w = static_cast<FdWait *>(h->data);
  if (--w->open_handles == 0) delete w;
}

static void fdwait_finish(FdWait *w, bool readable) {
  if (w->finished) return;
  w->finished = true;
  uv_poll_stop(&w->poll);
  if (w->has_timer) uv_timer_stop(&w->timer);
  {
    Napi::Env env(w->env);
    Napi::HandleScope scope(env);
    Napi::CallbackScope cb(env, w->context);
    w->done(w, readable);
  }
  uv_close(reinterpret_cast<uv_handle_t *>(&w->poll), fdwait_closed);
  if (w->has_timer) uv_close(reinterpret_cast<uv_handle_t *>(&w->timer), fdwait_closed);
}

// An error on the fd counts as readable: the read that follows reports it.
static void fdwait_on_poll(uv_poll_t *p, int, int) { fdwait_finish(static_cast<FdWait *>(p->data), true); }

static void fdwait_on_timer(uv_timer_t *t) { fdwait_finish(static_cast<FdWait *>(t->data), false); }

// timeout_ms < 0: no time limit. An fd the wait owns (owned) is closed also when it cannot start.
Napi::Promise fdwait(Napi::Env env, int fd, bool owned, int timeout_ms, const char *name,
                            std::function<void(FdWait *, bool)> done) {
  FdWait *w = new FdWait(env, fd, name);
  w->done = std::move(done);
  Napi::Promise promise = w->deferred.Promise();
  uv_loop_t *loop = nullptr;
  int rc = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &w->poll, fd) : UV_EINVAL;
  if (rc < 0) {
    if (owned) close(fd);
    w->deferred.Reject(errno_error(env, -rc, "watch fd").Value());
    delete w;
    return promise;
  }
  w->poll.data = w;
  w->open_handles++;
  uv_poll_start(&w->poll, UV_READABLE, fdwait_on_poll);
  if (timeout_ms >= 0) {
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    w->open_handles++;
    w->has_timer = true;
    uv_timer_start(&w->timer, fdwait_on_timer, (uint64_t)timeout_ms, 0);
  }
  return promise;
}
