/*
 * curl_load.c - libcurl, loaded the first time it is used (see curl_load.h).
 *
 * Every libcurl function frontdesk calls is defined here under its own
 * name and forwards to the library opened with dlopen on the first call.
 * The variadic setters pass their argument on with the type libcurl reads
 * for that option (the option number's range says which, as in libcurl
 * itself); getinfo's argument is always a pointer.
 */
#define CURL_DISABLE_TYPECHECK 1 /* the macros would rename the definitions below */
#include "curl_load.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define CURL_SONAME "libcurl.so.4"

static struct {
	void *lib;
	char error[256];
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_perform)(CURL *);
	void (*easy_reset)(CURL *);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
	const char *(*multi_strerror)(CURLMcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	void (*free)(void *);
	time_t (*getdate)(const char *, const time_t *);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *);
	CURLUcode (*url_get)(CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
} L;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load_once(void)
{
	void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *e = dlerror();
		snprintf(L.error, sizeof(L.error), "cannot load " CURL_SONAME ": %s", e ? e : "?");
		log_error("libcurl is not available", "error=\"%s\"", L.error);
		return;
	}
	/* A function pointer from dlsym: the POSIX way (object to function
	 * pointer through a union-free copy). */
#define SYM(field, name)                                                                                     \
	do {                                                                                                 \
		void *p = dlsym(lib, name);                                                                  \
		if (!p) {                                                                                    \
			snprintf(L.error, sizeof(L.error), CURL_SONAME " has no %s", name);                  \
			goto missing;                                                                        \
		}                                                                                            \
		memcpy(&L.field, &p, sizeof(p));                                                             \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(global_cleanup, "curl_global_cleanup");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_reset, "curl_easy_reset");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(multi_init, "curl_multi_init");
	SYM(multi_setopt, "curl_multi_setopt");
	SYM(multi_add_handle, "curl_multi_add_handle");
	SYM(multi_remove_handle, "curl_multi_remove_handle");
	SYM(multi_socket_action, "curl_multi_socket_action");
	SYM(multi_assign, "curl_multi_assign");
	SYM(multi_info_read, "curl_multi_info_read");
	SYM(multi_cleanup, "curl_multi_cleanup");
	SYM(multi_strerror, "curl_multi_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	SYM(free, "curl_free");
	SYM(getdate, "curl_getdate");
	SYM(url, "curl_url");
	SYM(url_cleanup, "curl_url_cleanup");
	SYM(url_get, "curl_url_get");
	SYM(url_set, "curl_url_set");
#undef SYM
	L.lib = lib;
	return;
missing:
	log_error("libcurl is not usable", "error=\"%s\"", L.error);
	dlclose(lib);
}

/* 0 when libcurl is loaded (loading it on the first call), -1 if it cannot be. */
static int loaded(void)
{
	pthread_once(&once, load_once);
	return L.lib ? 0 : -1;
}

const char *curl_load_error(void)
{
	return loaded() == 0 ? NULL : L.error;
}

int curl_load_done(void)
{
	return L.lib != NULL;
}

CURLcode curl_global_init(long flags)
{
	return loaded() == 0 ? L.global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
	if (L.lib)
		L.global_cleanup();
}

CURL *curl_easy_init(void)
{
	return loaded() == 0 ? L.easy_init() : NULL;
}

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;
	if (loaded() < 0)
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = L.easy_setopt(curl, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_FUNCTIONPOINT)
		rc = L.easy_setopt(curl, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_OFF_T)
		rc = L.easy_setopt(curl, option, va_arg(ap, void (*)(void)));
	else if (option < CURLOPTTYPE_BLOB)
		rc = L.easy_setopt(curl, option, va_arg(ap, curl_off_t));
	else
		rc = L.easy_setopt(curl, option, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;
	if (loaded() < 0)
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = L.easy_getinfo(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *curl)
{
	return loaded() == 0 ? L.easy_perform(curl) : CURLE_FAILED_INIT;
}

void curl_easy_reset(CURL *curl)
{
	if (L.lib)
		L.easy_reset(curl);
}

void curl_easy_cleanup(CURL *curl)
{
	if (L.lib)
		L.easy_cleanup(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
	return loaded() == 0 ? L.easy_strerror(code) : L.error;
}

CURLM *curl_multi_init(void)
{
	return loaded() == 0 ? L.multi_init() : NULL;
}

CURLMcode curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
{
	va_list ap;
	CURLMcode rc;
	if (loaded() < 0)
		return CURLM_INTERNAL_ERROR;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = L.multi_setopt(multi, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_FUNCTIONPOINT)
		rc = L.multi_setopt(multi, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_OFF_T)
		rc = L.multi_setopt(multi, option, va_arg(ap, void (*)(void)));
	else
		rc = L.multi_setopt(multi, option, va_arg(ap, curl_off_t));
	va_end(ap);
	return rc;
}

CURLMcode curl_multi_add_handle(CURLM *multi, CURL *curl)
{
	return loaded() == 0 ? L.multi_add_handle(multi, curl) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *curl)
{
	return L.lib ? L.multi_remove_handle(multi, curl) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_socket_action(CURLM *multi, curl_socket_t s, int ev_bitmask, int *running)
{
	return loaded() == 0 ? L.multi_socket_action(multi, s, ev_bitmask, running) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_assign(CURLM *multi, curl_socket_t s, void *p)
{
	return loaded() == 0 ? L.multi_assign(multi, s, p) : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *multi, int *left)
{
	if (loaded() < 0) {
		*left = 0;
		return NULL;
	}
	return L.multi_info_read(multi, left);
}

CURLMcode curl_multi_cleanup(CURLM *multi)
{
	return L.lib ? L.multi_cleanup(multi) : CURLM_OK;
}

const char *curl_multi_strerror(CURLMcode code)
{
	return loaded() == 0 ? L.multi_strerror(code) : L.error;
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return loaded() == 0 ? L.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (L.lib)
		L.slist_free_all(list);
}

void curl_free(void *p)
{
	if (L.lib)
		L.free(p);
}

time_t curl_getdate(const char *p, const time_t *unused)
{
	return loaded() == 0 ? L.getdate(p, unused) : -1;
}

CURLU *curl_url(void)
{
	return loaded() == 0 ? L.url() : NULL;
}

void curl_url_cleanup(CURLU *u)
{
	if (L.lib)
		L.url_cleanup(u);
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	if (loaded() < 0) {
		*part = NULL;
		return CURLUE_OUT_OF_MEMORY;
	}
	return L.url_get(u, what, part, flags);
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	return loaded() == 0 ? L.url_set(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}
