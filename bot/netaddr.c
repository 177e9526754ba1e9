/*
 * netaddr.c - IP addresses and networks (see netaddr.h).  inet_pton and
 * inet_ntop do the spelling; this file adds prefixes and the IPv4-mapped
 * rule.
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int netaddr_parse(const char *s, struct netaddr *a)
{
	char h[INET6_ADDRSTRLEN + 1];
	size_t len = s ? strlen(s) : 0;

	if (len == 0)
		return -1;
	if (s[0] == '[') {
		if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof(h))
			return -1;
		memcpy(h, s + 1, len - 2);
		h[len - 2] = '\0';
	} else {
		if (len >= sizeof(h))
			return -1;
		memcpy(h, s, len + 1);
	}
	memset(a, 0, sizeof(*a));
	if (s[0] != '[' && inet_pton(AF_INET, h, a->addr) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, h, a->addr) != 1)
		return -1;
	a->family = AF_INET6;
	if (memcmp(a->addr, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
	}
	return 0;
}

static void clear_host_bits(struct netaddr *a, int bits)
{
	int total = a->family == AF_INET ? 32 : 128;
	for (int i = bits; i < total; i++)
		a->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
}

int netaddr_parse_net(const char *s, struct netaddr_net *n, char *err, size_t errn)
{
	char a[INET6_ADDRSTRLEN + 3];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t alen = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);

	if (!s || alen == 0 || alen >= sizeof(a)) {
		snprintf(err, errn, "'%s' is not an IP address or network like 10.0.0.0/8", s ? s : "");
		return -1;
	}
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (netaddr_parse(a, &n->base) < 0) {
		snprintf(err, errn, "'%s' is not an IP address or network like 10.0.0.0/8 (no host names)",
		         s);
		return -1;
	}
	/* "::ffff:10.0.0.0/104" is written with an IPv6 prefix and means 10.0.0.0/8. */
	int mapped = strchr(a, ':') && n->base.family == AF_INET;
	int max = n->base.family == AF_INET && !mapped ? 32 : 128;
	n->bits = n->base.family == AF_INET ? 32 : 128;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || b < 0 || b > max || slash[1] == '-' || slash[1] == '+') {
			snprintf(err, errn, "'%s': the prefix length must be 0..%d", s, max);
			return -1;
		}
		if (mapped) {
			if (b < 96) {
				snprintf(err, errn, "'%s': an IPv4-mapped network needs a prefix of 96..128",
				         s);
				return -1;
			}
			b -= 96;
		}
		n->bits = (int)b;
	}
	clear_host_bits(&n->base, n->bits);
	return 0;
}

int netaddr_in(const struct netaddr *a, const struct netaddr_net *n)
{
	if (a->family != n->base.family)
		return 0;
	struct netaddr m = *a;
	clear_host_bits(&m, n->bits);
	return memcmp(m.addr, n->base.addr, a->family == AF_INET ? 4 : 16) == 0;
}

int netaddr_in_any(const char *s, const struct netaddr_net *nets, size_t count)
{
	struct netaddr a;
	if (count == 0 || netaddr_parse(s, &a) < 0)
		return 0;
	for (size_t i = 0; i < count; i++)
		if (netaddr_in(&a, &nets[i]))
			return 1;
	return 0;
}

void netaddr_format(const struct netaddr *a, char *out, size_t n)
{
	if (!inet_ntop(a->family, a->addr, out, (socklen_t)n) && n)
		out[0] = '\0';
}
