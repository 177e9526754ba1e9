/*
 * dynlib.h - a shared library opened with dlopen the first time it is
 * used, instead of being linked.
 *
 * For libraries whose dependencies cost every process memory it may never
 * need: libcurl (curl_load.c) and libpq (store/pq_load.c).  Such a module
 * defines the library's functions under their own names; each forwards
 * through a function pointer that dynlib_open fills from the library, on
 * the first call that needs it.  The process then needs the library's
 * package installed at run time (a package's shlibdeps cannot see a dlopen).
 *
 * Threads: any thread may call dynlib_open; the first opens the library,
 * the others wait for it.  The library is tried once per process: missing
 * at the first use, it stays missing (as a linked one would have stopped
 * the process from starting), and the reason is logged once.
 *
 * Failure: when the file cannot be opened or lacks one of the functions,
 * dynlib_open returns -1, leaves every function pointer NULL, closes what
 * it opened and keeps the reason in `error` (it names the file).
 *
 * Ownership: the table and the struct are the caller's (static, for the
 * life of the process); the library, once open, is never closed.
 */
#ifndef FD_DYNLIB_H
#define FD_DYNLIB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* One function: its name in the library, and the function pointer to fill
 * (the address of the caller's pointer, of the function's own type). */
struct dynlib_sym {
	const char *name;
	void *fn;
};

struct dynlib {
	const char *what;    /* the library, for the log: "libpq" */
	const char *package; /* the Debian package that installs it: "libpq5" */
	const struct dynlib_sym *syms;
	size_t nsyms;
	pthread_mutex_t lock;
	atomic_int state; /* 0 not tried yet, 1 open, -1 cannot be */
	char error[256];  /* why not, when state is -1 */
};

/* A static struct dynlib for the table `syms` (an array). */
#define DYNLIB_INIT(what, package, syms)                                                                     \
	{                                                                                                    \
		(what), (package), (syms), sizeof(syms) / sizeof((syms)[0]), PTHREAD_MUTEX_INITIALIZER, 0,   \
		{                                                                                            \
			0                                                                                    \
		}                                                                                            \
	}

/* Open `soname` and fill every function pointer of d's table, on the first
 * call (later calls only say how that went; `soname` is read once).
 * 0 when the library is usable, -1 when not (d->error says why). */
int dynlib_open(struct dynlib *d, const char *soname);

/* 1 when an earlier call opened the library, without trying to: what a
 * function that takes one of the library's own objects checks (that
 * object cannot exist otherwise). */
static inline int dynlib_ready(struct dynlib *d)
{
	return atomic_load_explicit(&d->state, memory_order_acquire) > 0;
}

#endif
