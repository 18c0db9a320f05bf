#pragma once
#include <stddef.h>
#include <sys/types.h>
// A blocking AF_UNIX stream connection (the console socket, a seccomp agent, the D-Bus bus). A
// path starting with '@' names an abstract socket, as Go's net.Dial reads it. With
// send_timeout_ms > 0, connect and sends give up after that long (SO_SNDTIMEO). Returns the fd
// (CLOEXEC) or -1 with errno.
int connect_unix_stream(const char *path, int send_timeout_ms = 0);
// Waits up to timeout_ms for data, then reads what is there (at most len bytes). Returns the
// byte count, 0 at end of stream, -1 with errno (ETIMEDOUT when nothing came).
ssize_t read_within(int fd, void *buf, size_t len, int timeout_ms);
