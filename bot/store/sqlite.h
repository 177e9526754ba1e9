/*
 * store/sqlite.h - what only the SQLite backend's own tests may ask of it.
 * Everything else speaks store.h.
 */
#ifndef FD_STORE_SQLITE_H
#define FD_STORE_SQLITE_H

struct store;
struct sqlite3;

/* The backend's connection, for the tests of this backend only (to fill
 * the disk, check integrity, look at pragmas). */
struct sqlite3 *store_sqlite_db(struct store *s);

#endif
