#pragma once
#include <stddef.h>
int listen_unix(const char *path);
// Accepts one connection and returns the fd it sends; name gets the message payload.
int accept_fd(int listen_fd, int timeout_ms, char *name, size_t name_len);
