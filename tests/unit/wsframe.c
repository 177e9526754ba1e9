/*
 * wsframe.c - test support: reading WebSocket frames from a raw socket.
 */
#include "wsframe.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define WSFRAME_MAX (16u << 20)

int wsframe_read_full(int fd, void *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = read(fd, (char *)p + off, n - off);
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

int wsframe_recv(int fd, struct buf *out)
{
	unsigned char h[2];
	buf_reset(out);
	if (wsframe_read_full(fd, h, 2) < 0)
		return -1;
	uint64_t len = h[1] & 0x7f;
	if (len == 126) {
		unsigned char e[2];
		if (wsframe_read_full(fd, e, 2) < 0)
			return -1;
		len = ((uint64_t)e[0] << 8) | e[1];
	} else if (len == 127) {
		unsigned char e[8];
		if (wsframe_read_full(fd, e, 8) < 0)
			return -1;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | e[i];
	}
	if (len > WSFRAME_MAX)
		return -1;
	char *p = xmalloc(len + 1);
	if (wsframe_read_full(fd, p, len) < 0) {
		free(p);
		return -1;
	}
	buf_append(out, p, len);
	buf_puts(out, "");
	free(p);
	return h[0] & 0x0f;
}
