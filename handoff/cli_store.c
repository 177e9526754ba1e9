/*
 * cli_store.c - configuration and store for the commands beside the daemon
 * (see cli_store.h).
 */
#include "cli_store.h"

#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "util.h"

struct config *cli_config_load(const char *command, const char *config_path)
{
	struct diag d;
	if (!config_path) {
		fprintf(stderr, "frontdesk %s: no configuration found: pass -c FILE\n", command);
		return NULL;
	}
	diag_init(&d);
	struct config *c = config_load(config_path, &d);
	if (!c) {
		fputs(d.out.p ? d.out.p : "", stderr);
		fprintf(stderr, "%s: configuration refused (%d error%s)\n", config_path, d.errors,
		        d.errors == 1 ? "" : "s");
	}
	diag_free(&d);
	return c;
}

int cli_store_open(const char *command, const char *config_path, struct config **cfg, struct store **store)
{
	char err[256];

	*cfg = NULL;
	*store = NULL;
	struct config *c = cli_config_load(command, config_path);
	if (!c)
		return 2;
	/* A PostgreSQL store is on its server: no file to look for. */
	if (!c->store_url && !c->store_url_secret.env && !c->store_url_secret.file &&
	    access(c->store_path, F_OK) != 0) {
		fprintf(stderr, "frontdesk %s: no store at %s (has `frontdesk run -c %s` run yet?)\n",
		        command, c->store_path, config_path);
		config_free(c);
		return 1;
	}
	struct store *s = store_open_config(c, NULL, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "frontdesk %s: %s\n", command, err);
		config_free(c);
		return 1;
	}
	*cfg = c;
	*store = s;
	return 0;
}
