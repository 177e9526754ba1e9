/*
 * report_cli.h - `frontdesk report [--json] [--since WHEN] [--until WHEN]
 * [--by day|week]`: the insights figures (report.h) from the store the
 * running daemon uses, for a shell or a script.  WHEN is an ISO-8601 date
 * or time, or a duration back from now (7d, 12h); the default window is
 * the last 7 days by day.  Exit codes: 0 ok, 1 the store cannot be read,
 * 2 bad usage or configuration.
 */
#ifndef FD_REPORT_CLI_H
#define FD_REPORT_CLI_H

/* argv[0] is "report".  config_path may be NULL only for --help. */
int report_cli_main(const char *config_path, int argc, char **argv);

#endif
