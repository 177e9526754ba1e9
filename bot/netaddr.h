/*
 * netaddr.h - IP addresses and networks as configuration names them:
 * parsing "192.0.2.7", "2001:db8::1", "[::1]", "10.0.0.0/8", "fd00::/8",
 * and matching an address against a list of networks (trusted_proxies).
 * Whether a host name or address is this machine is url.h's
 * url_host_is_loopback.
 *
 * An IPv4-mapped IPv6 address ("::ffff:192.0.2.7", what a dual-stack
 * socket reports) is the IPv4 address it maps, everywhere here, so one
 * rule covers both spellings.  No function resolves names (no DNS): a host
 * name is never an address.
 *
 * Returns: 0 / -1 for parsers (err gets a reason), 1 / 0 for predicates.
 * Nothing is allocated; callers own every buffer.
 */
#ifndef FD_NETADDR_H
#define FD_NETADDR_H

#include <stddef.h>

#define NETADDR_STRLEN 48 /* room for any address netaddr_format writes, with the NUL */

struct netaddr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network order; 4 bytes used for AF_INET */
};

/* A network: an address and a prefix length (32 / 128 for one address). */
struct netaddr_net {
	struct netaddr base; /* host bits cleared */
	int bits;
};

/* "192.0.2.7", "2001:db8::1" or "[2001:db8::1]" -> a.  0, or -1. */
int netaddr_parse(const char *s, struct netaddr *a);

/* "10.0.0.0/8", "fd00::/8", or a single address.  0, or -1 with a reason
 * in err (e.g. "'10.0.0.0/33': the prefix length must be 0..32"). */
int netaddr_parse_net(const char *s, struct netaddr_net *n, char *err, size_t errn);

/* Is a inside n? */
int netaddr_in(const struct netaddr *a, const struct netaddr_net *n);

/* Is the address a (parsed from s) inside any of nets[0..count)?  An
 * unparsable s is in none. */
int netaddr_in_any(const char *s, const struct netaddr_net *nets, size_t count);

/* The canonical text of a ("192.0.2.7", "2001:db8::1") into out. */
void netaddr_format(const struct netaddr *a, char *out, size_t n);

#endif
