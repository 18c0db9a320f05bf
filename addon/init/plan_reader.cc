// Bounds-checked reads from the plan; a short or malformed plan stops the init with an error
// instead of reading past the buffer.
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "init.h"

static bool need(plan_reader *r, size_t n) {
  if (!r->ok || (size_t)(r->end - r->p) < n) {
    r->ok = false;
    die(EINVAL, "malformed plan: truncated");
  }
  return true;
}

uint32_t rd_u32(plan_reader *r) {
  need(r, 4);
  uint32_t v;
  memcpy(&v, r->p, 4);
  r->p += 4;
  return v;
}

uint64_t rd_u64(plan_reader *r) {
  need(r, 8);
  uint64_t v;
  memcpy(&v, r->p, 8);
  r->p += 8;
  return v;
}

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

const char *rd_str(plan_reader *r) {
  uint32_t len = rd_u32(r);
  need(r, pad4((size_t)len + 1));
  const char *s = (const char *)r->p;
  if (s[len] != '\0' || memchr(s, '\0', len) != nullptr) die(EINVAL, "malformed plan: bad string");
  r->p += pad4((size_t)len + 1);
  return s;
}

const uint8_t *rd_bytes(plan_reader *r, uint32_t *len) {
  *len = rd_u32(r);
  need(r, pad4(*len));
  const uint8_t *b = r->p;
  r->p += pad4(*len);
  return b;
}

const uint8_t *rd_u32v(plan_reader *r, uint32_t *n) {
  *n = rd_u32(r);
  if (*n > 65536) die(EINVAL, "malformed plan: list too long");
  need(r, (size_t)*n * 4);
  const uint8_t *v = r->p;
  r->p += (size_t)*n * 4;
  return v;
}

char **rd_strv(plan_reader *r, uint32_t *n) {
  *n = rd_u32(r);
  if (*n > 65536) die(EINVAL, "malformed plan: list too long");
  char **v = (char **)calloc((size_t)*n + 1, sizeof(char *));
  if (!v) die(ENOMEM, "plan list");
  for (uint32_t i = 0; i < *n; i++) v[i] = (char *)rd_str(r);
  return v;
}
