/*
 * cli_store.h - what the commands that work beside the running daemon
 * (`frontdesk queue`, `queue teach`, `report`) share: loading the
 * configuration and opening the store the daemon writes.
 *
 * Ownership: on success the caller owns *cfg (config_free) and *store
 * (store_close).  Failures are explained on stderr, named after the
 * command ("frontdesk queue: ..."), and nothing is left open.
 */
#ifndef FD_CLI_STORE_H
#define FD_CLI_STORE_H

struct config;
struct store;

/* Load config_path: the configuration (config_free), or NULL when there is
 * none or it is refused (explained on stderr). */
struct config *cli_config_load(const char *command, const char *config_path);

/*
 * Load config_path and open its store.  The daemon creates the store, so a
 * missing one means a wrong -c or a daemon that never ran, not an empty
 * queue: that is an error.  Returns 0, or the exit code to end with: 2
 * (no or a refused configuration), 1 (no store, or it cannot be opened).
 */
int cli_store_open(const char *command, const char *config_path, struct config **cfg, struct store **store);

#endif
