/*
 * teach_cli.h - `frontdesk queue teach | taught | untaught`: what the team
 * teaches the bot, from a shell (the dashboard's "Teach" does the same).
 *
 *   queue teach ID RULE [--not] [--message MSG] [--agent LOGIN]
 *       the customer's question of ticket ID (the message that opened it,
 *       or message MSG of the ticket) becomes an example of rule RULE
 *       (--not: a not_example)
 *   queue taught [--json]      every taught example
 *   queue untaught N           forget taught example N
 *
 * Taught examples are kept in the store and learned with the rule files'
 * examples at the daemon's next start or reload (SIGHUP; a teach in the
 * dashboard reloads at once).  Exit codes as `frontdesk queue`: 0 ok,
 * 1 runtime failure (no such ticket or example, store error), 2 bad usage,
 * an unknown rule or an invalid configuration.
 */
#ifndef FD_TEACH_CLI_H
#define FD_TEACH_CLI_H

/* 1 when argv[1] of `frontdesk queue` is one of these commands. */
int teach_cli_command(const char *cmd);
/* argv[0] is "queue", argv[1] the command. */
int teach_cli_main(const char *config_path, int argc, char **argv);

#endif
