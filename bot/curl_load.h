/*
 * curl_load.h - libcurl is opened when it is first used, not at start.
 *
 * Linked the usual way, libcurl brings about twenty libraries into every
 * process (Kerberos, LDAP, SSH, RTMP with GnuTLS and its own TLS set-up):
 * about 3 MB of resident memory in a daemon that may never make an HTTP
 * request (a web chat with no notifications).  The rest of the code calls
 * libcurl's own API as documented; curl_load.c defines those functions and
 * opens libcurl.so.4 on the first call (dynlib.h).  A runtime package must therefore
 * depend on libcurl4 explicitly (shlibdeps cannot see a dlopen).
 *
 * When the library cannot be opened, the calls fail the way libcurl's own
 * do when out of resources (NULL handles, CURLE_FAILED_INIT), and the
 * reason is logged once and given by curl_load_error().
 */
#ifndef FD_CURL_LOAD_H
#define FD_CURL_LOAD_H

/* NULL when libcurl is loaded (loading it now if needed), else why not. */
const char *curl_load_error(void);
/* 1 once libcurl was loaded by an earlier call, without loading it. */
int curl_load_done(void);

#endif
