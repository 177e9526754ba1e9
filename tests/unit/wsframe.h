/*
 * wsframe.h - test support: the frame reader of a raw, blocking WebSocket
 * client, for unit tests that talk to our server over a plain socket (so
 * they see exactly the bytes lws sends, without a client library between).
 */
#ifndef FD_TEST_WSFRAME_H
#define FD_TEST_WSFRAME_H

#include <stddef.h>

#include "util.h"

/* Read exactly n bytes; 0, or -1 on EOF, error or timeout. */
int wsframe_read_full(int fd, void *p, size_t n);

/* One unmasked server frame: its opcode, or -1 on EOF, timeout or a frame
 * over 16 MiB; the payload replaces out's contents (NUL-terminated). */
int wsframe_recv(int fd, struct buf *out);

#endif
