/*
 * ymlerr.h - what to fix, instead of libyaml's parser vocabulary.
 *
 * libyaml reports a syntax error where the parser gave up ("while parsing a
 * block mapping did not find expected key"), which is often lines below the
 * real mistake and names grammar, not the fix.  ymlerr_report turns the
 * common mistakes of hand-written configuration into one sentence that
 * says what to change, placed where the mistake starts:
 *
 *   a quote that is never closed          (at the line the quote opens)
 *   `name: Acme: Bakery`                  quote a value that contains ': '
 *   a tab in the indentation              use spaces, not tabs
 *   a line indented differently           line it up with the keys around it
 *   `{` or `[` never closed               (at the bracket that opens it)
 *   a value starting with * & ! @ ` % |   quote the value
 *   text after a closing quote, a missing ':', a stray '- ',
 *   a backslash escape in double quotes
 *
 * Anything else is reported as libyaml words it, so no error is ever lost.
 * To place a mistake it scans the same text again with libyaml's token API
 * (up to where the parse failed); nothing is guessed from the text alone
 * except the characters named in a message.
 *
 * Errors: none of its own; it adds exactly one error to `d`.
 */
#ifndef FD_YMLERR_H
#define FD_YMLERR_H

#include <stddef.h>
#include <yaml.h>

#include "yml.h"

/*
 * Report the syntax error of `failed` (a parser whose yaml_parser_load
 * failed on data/len) to d as file:line:column: what to fix.  `failed` is
 * only read.
 */
void ymlerr_report(struct diag *d, const char *file, const char *data, size_t len,
                   const yaml_parser_t *failed);

#endif
