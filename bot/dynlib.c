/*
 * dynlib.c - a shared library opened at its first use (see dynlib.h).
 */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Open the file and resolve the table; 0 or -1 with d->error.  Runs once,
 * under d->lock. */
static int load(struct dynlib *d, const char *soname)
{
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *e = dlerror();
		snprintf(d->error, sizeof(d->error), "cannot load %s: %s", soname, e ? e : "unknown error");
		return -1;
	}
	for (size_t i = 0; i < d->nsyms; i++) {
		void *p = dlsym(lib, d->syms[i].name);
		if (!p) {
			snprintf(d->error, sizeof(d->error), "%s has no %s (a version too old?)", soname,
			         d->syms[i].name);
			/* None of the table may point into a library about to go. */
			for (size_t j = 0; j < i; j++)
				memset(d->syms[j].fn, 0, sizeof(p));
			dlclose(lib);
			return -1;
		}
		/* An object pointer from dlsym into a function pointer: POSIX
		 * guarantees they have the same representation. */
		memcpy(d->syms[i].fn, &p, sizeof(p));
	}
	return 0;
}

int dynlib_open(struct dynlib *d, const char *soname)
{
	int state = atomic_load_explicit(&d->state, memory_order_acquire);
	if (state == 0) {
		pthread_mutex_lock(&d->lock);
		state = atomic_load_explicit(&d->state, memory_order_relaxed);
		if (state == 0) {
			state = load(d, soname) == 0 ? 1 : -1;
			if (state < 0) {
				struct buf b;
				buf_init(&b, 0);
				log_quote(&b, d->error);
				log_error("a library frontdesk needs here is not available",
				          "lib=%s package=%s error=%s", d->what, d->package, b.p);
				buf_free(&b);
			}
			atomic_store_explicit(&d->state, state, memory_order_release);
		}
		pthread_mutex_unlock(&d->lock);
	}
	return state > 0 ? 0 : -1;
}
