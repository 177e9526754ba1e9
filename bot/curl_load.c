/*
 * curl_load.c - libcurl, loaded the first time it is used (see curl_load.h).
 *
 * Every libcurl function frontdesk calls is defined here under its own
 * name and forwards to the library opened on the first call (dynlib.h).
 * The variadic setters pass their argument on with the type libcurl reads
 * for that option (the option number's range says which, as in libcurl
 * itself); getinfo's argument is always a pointer.
 */
#define CURL_DISABLE_TYPECHECK 1 /* the macros would rename the definitions below */
#include "curl_load.h"

#include <curl/curl.h>
#include <stdarg.h>

#include "dynlib.h"

#define CURL_SONAME "libcurl.so.4"

static struct {
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
} F;

static const struct dynlib_sym syms[] = {
    {"curl_global_init", &F.global_init},
    {"curl_global_cleanup", &F.global_cleanup},
    {"curl_easy_init", &F.easy_init},
    {"curl_easy_setopt", &F.easy_setopt},
    {"curl_easy_getinfo", &F.easy_getinfo},
    {"curl_easy_perform", &F.easy_perform},
    {"curl_easy_reset", &F.easy_reset},
    {"curl_easy_cleanup", &F.easy_cleanup},
    {"curl_easy_strerror", &F.easy_strerror},
    {"curl_multi_init", &F.multi_init},
    {"curl_multi_setopt", &F.multi_setopt},
    {"curl_multi_add_handle", &F.multi_add_handle},
    {"curl_multi_remove_handle", &F.multi_remove_handle},
    {"curl_multi_socket_action", &F.multi_socket_action},
    {"curl_multi_assign", &F.multi_assign},
    {"curl_multi_info_read", &F.multi_info_read},
    {"curl_multi_cleanup", &F.multi_cleanup},
    {"curl_multi_strerror", &F.multi_strerror},
    {"curl_slist_append", &F.slist_append},
    {"curl_slist_free_all", &F.slist_free_all},
    {"curl_free", &F.free},
    {"curl_getdate", &F.getdate},
    {"curl_url", &F.url},
    {"curl_url_cleanup", &F.url_cleanup},
    {"curl_url_get", &F.url_get},
    {"curl_url_set", &F.url_set},
};

static struct dynlib lib = DYNLIB_INIT("libcurl", "libcurl4", syms);

/* 0 when libcurl is loaded (loading it on the first call), -1 if it cannot be. */
static int loaded(void)
{
	return dynlib_open(&lib, CURL_SONAME);
}

const char *curl_load_error(void)
{
	return loaded() == 0 ? NULL : lib.error;
}

int curl_load_done(void)
{
	return dynlib_ready(&lib);
}

CURLcode curl_global_init(long flags)
{
	return loaded() == 0 ? F.global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
	if (dynlib_ready(&lib))
		F.global_cleanup();
}

CURL *curl_easy_init(void)
{
	return loaded() == 0 ? F.easy_init() : NULL;
}

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;
	if (loaded() < 0)
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = F.easy_setopt(curl, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_FUNCTIONPOINT)
		rc = F.easy_setopt(curl, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_OFF_T)
		rc = F.easy_setopt(curl, option, va_arg(ap, void (*)(void)));
	else if (option < CURLOPTTYPE_BLOB)
		rc = F.easy_setopt(curl, option, va_arg(ap, curl_off_t));
	else
		rc = F.easy_setopt(curl, option, va_arg(ap, void *));
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
	rc = F.easy_getinfo(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *curl)
{
	return loaded() == 0 ? F.easy_perform(curl) : CURLE_FAILED_INIT;
}

void curl_easy_reset(CURL *curl)
{
	if (dynlib_ready(&lib))
		F.easy_reset(curl);
}

void curl_easy_cleanup(CURL *curl)
{
	if (dynlib_ready(&lib))
		F.easy_cleanup(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
	return loaded() == 0 ? F.easy_strerror(code) : lib.error;
}

CURLM *curl_multi_init(void)
{
	return loaded() == 0 ? F.multi_init() : NULL;
}

CURLMcode curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
{
	va_list ap;
	CURLMcode rc;
	if (loaded() < 0)
		return CURLM_INTERNAL_ERROR;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = F.multi_setopt(multi, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_FUNCTIONPOINT)
		rc = F.multi_setopt(multi, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_OFF_T)
		rc = F.multi_setopt(multi, option, va_arg(ap, void (*)(void)));
	else
		rc = F.multi_setopt(multi, option, va_arg(ap, curl_off_t));
	va_end(ap);
	return rc;
}

CURLMcode curl_multi_add_handle(CURLM *multi, CURL *curl)
{
	return loaded() == 0 ? F.multi_add_handle(multi, curl) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *curl)
{
	return dynlib_ready(&lib) ? F.multi_remove_handle(multi, curl) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_socket_action(CURLM *multi, curl_socket_t s, int ev_bitmask, int *running)
{
	return loaded() == 0 ? F.multi_socket_action(multi, s, ev_bitmask, running) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_assign(CURLM *multi, curl_socket_t s, void *p)
{
	return loaded() == 0 ? F.multi_assign(multi, s, p) : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *multi, int *left)
{
	if (loaded() < 0) {
		*left = 0;
		return NULL;
	}
	return F.multi_info_read(multi, left);
}

CURLMcode curl_multi_cleanup(CURLM *multi)
{
	return dynlib_ready(&lib) ? F.multi_cleanup(multi) : CURLM_OK;
}

const char *curl_multi_strerror(CURLMcode code)
{
	return loaded() == 0 ? F.multi_strerror(code) : lib.error;
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return loaded() == 0 ? F.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (dynlib_ready(&lib))
		F.slist_free_all(list);
}

void curl_free(void *p)
{
	if (dynlib_ready(&lib))
		F.free(p);
}

time_t curl_getdate(const char *p, const time_t *unused)
{
	return loaded() == 0 ? F.getdate(p, unused) : -1;
}

CURLU *curl_url(void)
{
	return loaded() == 0 ? F.url() : NULL;
}

void curl_url_cleanup(CURLU *u)
{
	if (dynlib_ready(&lib))
		F.url_cleanup(u);
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	if (loaded() < 0) {
		*part = NULL;
		return CURLUE_OUT_OF_MEMORY;
	}
	return F.url_get(u, what, part, flags);
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	return loaded() == 0 ? F.url_set(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}
