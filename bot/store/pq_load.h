/*
 * store/pq_load.h - libpq is opened when it is first used, not at start.
 *
 * Linked the usual way, libpq brings about twenty libraries into every
 * process (Kerberos, LDAP, SASL, GnuTLS with p11-kit, nettle, gmp, idn2),
 * and GnuTLS and p11-kit set themselves up as they load: about 10 MB of
 * resident memory in every daemon, when almost all keep their store in
 * SQLite.  The PostgreSQL backend (pg.c, pgconn.c, copy.c) calls libpq's
 * own API as documented; pq_load.c defines those functions and opens
 * libpq.so.5 on the first call (see dynlib.h).  An installed frontdesk
 * therefore needs the libpq5 package only where store.url is used, and a
 * runtime package must name it itself (shlibdeps cannot see a dlopen).
 *
 * Failure: when the library cannot be opened, pq_load_error() says why,
 * and store_pg_open refuses the store with it (naming the package to
 * install), as it refuses a server it cannot reach; the reason is logged
 * once.  Called anyway, libpq's functions answer as libpq itself does for
 * a NULL connection or result (no connection, PGRES_FATAL_ERROR,
 * CONNECTION_BAD, no rows); none crashes.
 */
#ifndef FD_STORE_PQ_LOAD_H
#define FD_STORE_PQ_LOAD_H

/* The file opened at the first use, "libpq.so.5".  Read once, by that
 * use: a test names a file that does not exist before anything uses
 * libpq, to see how a missing library is reported. */
extern const char *pq_load_soname;

/* NULL when libpq is loaded (loading it now if needed), else why not (a
 * line naming the file). */
const char *pq_load_error(void);

#endif
