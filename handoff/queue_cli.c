/*
 * queue_cli.c - `frontdesk queue` (see queue_cli.h).
 *
 * Reads go through the store's one ticket read model (the dashboard's and
 * the notifications' too); writes are the store's queue actions, each
 * committed on its own.  A store opened without a loop answers every
 * operation before it returns, so the callbacks here fill stack state.
 */
#include "queue_cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <utf8proc.h>

#include "cli_store.h"
#include "config.h"
#include "connector.h"
#include "dashboard.h"
#include "hours.h"
#include "markup.h"
#include "outbox.h"
#include "replies.h"
#include "satisfaction.h"
#include "store.h"
#include "team.h"
#include "teach_cli.h"
#include "util.h"

#define EXIT_USAGE          2
#define QUEUE_MAX_REPLY     (16u * 1024u) /* bytes of one reply written on the command line */
#define QUEUE_SHOW_MESSAGES 200           /* most recent messages `show` prints */
#define QUEUE_DEFAULT_COLS  120           /* width when standard output is not a terminal */
#define TABLE_FIXED         (5 + 8 + 6 + 14 + 18 + 10 + 10 + 7 * 2) /* columns before the last message */

static const char usage_text[] =
    "usage: frontdesk [-c CONFIG] queue COMMAND [ARGS]\n"
    "\n"
    "  list [--json] [--status open|waiting|claimed|resolved|all]\n"
    "                             tickets by due time (default: open = waiting + claimed)\n"
    "  show ID [--json]           one ticket and its conversation\n"
    "  claim ID --agent LOGIN     take the ticket: the bot stays out of the thread\n"
    "  reply ID --agent LOGIN TEXT...\n"
    "                             answer the customer (claims the ticket if unclaimed);\n"
    "                             the running daemon delivers it within a second\n"
    "  release ID [--agent LOGIN] give the ticket back to the queue\n"
    "  resolve ID [--agent LOGIN] close the ticket: the thread is the bot's again\n"
    "  reopen ID [--agent LOGIN]  a resolved ticket waits for a person again\n"
    "  note ID --agent LOGIN TEXT...\n"
    "                             a private note: agents see it, the customer never does\n"
    "  label ID LABEL [--remove] [--agent LOGIN]\n"
    "                             put a label on the ticket (or take it off)\n"
    "  priority ID urgent|high|normal|low [--agent LOGIN]\n"
    "                             change the priority; the due time follows\n"
    "  snooze ID UNTIL|off [--agent LOGIN]\n"
    "                             out of the queue until UNTIL (2h, 1d, or an ISO-8601\n"
    "                             time) or until the customer writes; off: back now\n"
    "  search [WORDS...] [--json] [--status S] [--priority P] [--channel PLATFORM]\n"
    "         [--assignee LOGIN|none] [--label LABEL] [--since TIME] [--until TIME]\n"
    "                             conversations holding every word (in a message, a\n"
    "                             note or the customer's name), newest first\n"
    "  teach ID RULE [--not] [--message MSG] [--agent LOGIN]\n"
    "                             the ticket's question becomes an example of RULE\n"
    "  taught [--json]            what the team taught; untaught N forgets one\n"
    "\n"
    "LOGIN must be an agent of the configuration (dashboard.agents) or one added in\n"
    "the dashboard.  --json prints\n"
    "{\"id\", \"status\", \"priority\", \"reason\", \"platform\", \"author\", \"due\", \"created\",\n"
    "\"assignee\", \"last_message\", \"opening_message\"} per ticket (times ISO-8601 UTC;\n"
    "opening_message is the customer message that opened the ticket, last_message the\n"
    "customer's latest in it, email the address a web chat visitor left or null, and\n"
    "\"labels\", \"snoozed_until\"); show adds \"messages\":[{\"from\",\"text\",\"ts\"}] and\n"
    "\"notes\":[{\"agent\",\"text\",\"ts\"}].\n"
    "Exit status: 0 ok, 1 runtime failure (e.g. no such ticket), 2 bad usage.\n";

enum status_filter { ST_OPEN = 0, ST_WAITING, ST_CLAIMED, ST_RESOLVED, ST_ALL };

static const char *const status_names[] = {"open", "waiting", "claimed", "resolved", "all"};

struct queue {
	struct config *cfg;
	struct store *store;
	struct team *team; /* the config's agents and labels, and the dashboard's */
	time_t now;
	int json;
	json_t *shown; /* show --json: the messages read */
};

/* ---- small formatting pieces --------------------------------------------- */

/* "2h 10m" for a duration in seconds (two units at most). */
static void span(long s, char *out, size_t n)
{
	long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
	if (d > 0)
		snprintf(out, n, h ? "%ldd %ldh" : "%ldd", d, h);
	else if (h > 0)
		snprintf(out, n, "%ldh %ldm", h, m);
	else
		snprintf(out, n, "%ldm", m);
}

void queue_relative(time_t due, time_t now, char *out, size_t n)
{
	char sp[32];
	long diff;

	if (due <= 0) {
		snprintf(out, n, "-");
		return;
	}
	diff = (long)(due - now);
	if (diff > -60 && diff < 60) {
		snprintf(out, n, "due now");
		return;
	}
	span(diff < 0 ? -diff : diff, sp, sizeof(sp));
	snprintf(out, n, diff < 0 ? "overdue %s" : "in %s", sp);
}

/* Display width of one code point: 0 for combining marks, 2 for wide. */
static int cp_width(utf8proc_int32_t c)
{
	int w = utf8proc_charwidth(c);
	return w < 0 ? 1 : w;
}

void queue_fit(struct buf *out, const char *text, size_t cols)
{
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)(text ? text : "");
	size_t len = strlen((const char *)s), i = 0, used = 0, mark = out->len;
	int space = 0;

	while (i < len) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
		if (k <= 0) {
			c = 0xFFFD;
			k = 1;
		}
		/* Control characters (terminal escapes, line breaks) never reach
		 * the terminal: with runs of spaces they become one space. */
		if (c <= 0x20 || (c >= 0x7F && c < 0xA0) || c == 0x2028 || c == 0x2029) {
			i += (size_t)k;
			space = 1;
			continue;
		}
		/* A bidi override would make the line read in another order
		 * than it was written: shown as U+FFFD instead (markup.h). */
		if (markup_bidi_control(c))
			c = 0xFFFD;
		int w = cp_width(c);
		int gap = space && used > 0;
		size_t need = (size_t)w + (size_t)gap;
		if (used + need > cols) {
			/* Make room for the ellipsis: drop whole characters until
			 * one more column is free. */
			while (out->len > mark && used + 1 > cols) {
				size_t j = out->len - 1;
				while (j > mark && ((unsigned char)out->p[j] & 0xC0) == 0x80)
					j--;
				utf8proc_int32_t pc;
				utf8proc_iterate((const utf8proc_uint8_t *)out->p + j,
				                 (utf8proc_ssize_t)(out->len - j), &pc);
				used -= (size_t)cp_width(pc);
				out->len = j;
				out->p[j] = '\0';
			}
			if (cols > 0)
				buf_puts(out, "…");
			return;
		}
		if (gap)
			buf_putc(out, ' ');
		used += need;
		space = 0;
		utf8proc_uint8_t enc[4];
		buf_append(out, enc, (size_t)utf8proc_encode_char(c, enc));
		i += (size_t)k;
	}
}

/* Terminal columns for the table. */
static size_t terminal_cols(void)
{
	struct winsize ws;
	long v;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *env = getenv("COLUMNS");
	if (env && parse_long(env, &v) == 0 && v >= 20 && v <= 1000)
		return (size_t)v;
	return QUEUE_DEFAULT_COLS;
}

/* Pad the cell just appended (starting at `from`) to `cols` columns. */
static void pad(struct buf *b, size_t from, size_t cols)
{
	size_t w = 0;
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)b->p + from;
	size_t len = b->len - from, i = 0;
	while (i < len) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
		if (k <= 0)
			k = 1, c = 0xFFFD;
		w += (size_t)cp_width(c);
		i += (size_t)k;
	}
	while (w++ < cols + 2)
		buf_putc(b, ' ');
}

static json_t *json_text_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* jansson refuses invalid UTF-8: store text is valid, but never trust it. */
static json_t *json_text(const char *s)
{
	json_t *v = json_string(s ? s : "");
	if (!v) {
		struct buf b;
		buf_init(&b, 0);
		queue_fit(&b, s, (size_t)-1 / 4);
		v = json_string(b.p ? b.p : "");
		buf_free(&b);
	}
	return v ? v : json_string("");
}

static json_t *json_time(time_t t)
{
	char iso[40];
	if (t <= 0)
		return json_null();
	time_iso_utc(t, iso, sizeof(iso));
	return json_string(iso);
}

/* One ticket as the documented JSON object; last_message is the
 * customer's latest message of the ticket, opening_message the one that
 * caused the escalation. */
static json_t *ticket_json(const struct store_ticket *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(t->id));
	json_object_set_new(o, "status", json_text(t->status));
	json_object_set_new(o, "priority", json_text(t->priority));
	json_object_set_new(o, "reason", json_text_or_null(t->reason));
	json_object_set_new(o, "platform", json_text(t->platform));
	json_object_set_new(o, "author", json_text(t->author));
	json_object_set_new(o, "due", json_time(t->due));
	json_object_set_new(o, "created", json_time(t->created));
	json_object_set_new(o, "assignee", json_text_or_null(t->assignee));
	json_object_set_new(o, "last_message", json_text(t->latest.text));
	json_object_set_new(o, "opening_message", json_text(t->opening.text));
	json_object_set_new(o, "first_response", json_time(t->first_response));
	json_object_set_new(o, "resolved", json_time(t->resolved));
	json_object_set_new(o, "email", json_text_or_null(t->email));
	json_object_set_new(o, "rating",
	                    t->rating ? json_pack("{s:i, s:o}", "score", t->rating, "comment",
	                                          json_text_or_null(t->rating_comment))
	                              : json_null());
	json_t *labels = json_array();
	for (size_t i = 0; i < t->n_labels; i++)
		json_array_append_new(labels, json_text(t->labels[i]));
	json_object_set_new(o, "labels", labels);
	json_object_set_new(o, "snoozed_until",
	                    json_time(t->snoozed_until > time(NULL) ? t->snoozed_until : 0));
	return o;
}

static int print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(v);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void db_fail(const char *what)
{
	fprintf(stderr, "frontdesk queue: cannot %s (see the log line above)\n", what);
}

/* ---- list ------------------------------------------------------------------- */

static void table_row(struct queue *q, struct buf *b, const struct store_ticket *t, size_t cols)
{
	char due[48], id[24];
	size_t from;

	snprintf(id, sizeof(id), "%lld", (long long)t->id);
	if (t->status && strcmp(t->status, "resolved") == 0)
		snprintf(due, sizeof(due), "-");
	else
		queue_relative(t->due, q->now, due, sizeof(due));

	from = b->len;
	buf_puts(b, id);
	pad(b, from, 5);
	from = b->len;
	buf_puts(b, t->status ? t->status : "?");
	pad(b, from, 8);
	from = b->len;
	buf_puts(b, t->priority ? t->priority : "?");
	pad(b, from, 6);
	from = b->len;
	buf_puts(b, due);
	pad(b, from, 14);
	from = b->len;
	queue_fit(b, t->author ? t->author : "-", 18);
	pad(b, from, 18);
	from = b->len;
	queue_fit(b, t->platform, 10);
	pad(b, from, 10);
	from = b->len;
	queue_fit(b, t->assignee ? t->assignee : "-", 10);
	pad(b, from, 10);
	/* The fixed columns and their gaps take TABLE_FIXED; the message gets
	 * the rest of the line, and at least 10. */
	size_t rest = cols > TABLE_FIXED + 10 ? cols - TABLE_FIXED : 10;
	queue_fit(b, t->latest.text, rest);
	buf_putc(b, '\n');
}

struct listing {
	struct queue *q;
	enum status_filter f;
	int rc;
	int search; /* an empty answer says "nothing found" */
};

static void listed(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct listing *l = arg;
	struct queue *q = l->q;
	l->rc = 1;
	if (rc < 0) {
		db_fail("list tickets");
		return;
	}
	if (q->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, ticket_json(&v[i]));
		l->rc = print_json(arr);
		return;
	}
	if (n == 0) {
		if (l->search)
			printf("nothing found\n");
		else
			printf("no %s tickets\n", status_names[l->f]);
		l->rc = fflush(stdout) == 0 ? 0 : 1;
		return;
	}
	struct buf out;
	size_t cols = terminal_cols();
	buf_init(&out, 0);
	buf_printf(&out, "%-5s  %-8s  %-6s  %-14s  %-18s  %-10s  %-10s  %s\n", "ID", "STATUS", "PRIO", "DUE",
	           "AUTHOR", "PLATFORM", "ASSIGNEE", "LAST MESSAGE");
	for (size_t i = 0; i < n; i++)
		table_row(q, &out, &v[i], cols);
	fwrite(out.p, 1, out.len, stdout);
	buf_free(&out);
	l->rc = fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_list(struct queue *q, enum status_filter f)
{
	/* status_filter and store_ticket_filter name the same sets in the
	 * same order. */
	struct listing l = {.q = q, .f = f, .rc = 1};
	struct store_ticket_query tq = {.filter = (enum store_ticket_filter)f};
	store_tickets(q->store, &tq, listed, &l);
	return l.rc;
}

/* ---- show --------------------------------------------------------------------- */

/* "2026-11-22 13:45 GMT": the business's zone, named. */
static void local_time(struct queue *q, time_t t, char *out, size_t n)
{
	if (t <= 0)
		snprintf(out, n, "-");
	else
		hours_local_label(q->cfg->hours, t, out, n);
}

struct showing {
	struct queue *q;
	int64_t id;
	int rc;
};

static void show_messages(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct showing *sh = arg;
	struct queue *q = sh->q;
	struct buf out;
	json_t *msgs = q->json ? json_array() : NULL;

	if (rc != 0) {
		db_fail("read the conversation");
		json_decref(msgs);
		return;
	}
	buf_init(&out, 0);
	for (size_t i = 0; i < n; i++) {
		const struct store_msg *m = &v[i];
		int sending = m->state && strcmp(m->state, "pending") == 0;
		if (m->state && strcmp(m->state, "failed") == 0)
			continue;
		if (msgs) {
			json_t *o = json_object();
			json_object_set_new(o, "from", json_text(m->from));
			json_object_set_new(o, "text", json_text(m->text));
			json_object_set_new(o, "ts", json_time(m->ts));
			if (m->agent)
				json_object_set_new(o, "agent", json_text(m->agent));
			json_object_set_new(o, "delivered", json_boolean(!sending));
			json_array_append_new(msgs, o);
		} else {
			char when[40];
			local_time(q, m->ts, when, sizeof(when));
			buf_printf(&out, "[%s] %s", when, m->from ? m->from : "?");
			if (m->agent) {
				buf_putc(&out, ' ');
				queue_fit(&out, m->agent, 40);
			}
			if (sending)
				buf_puts(&out, " (sending)");
			buf_puts(&out, ":\n    ");
			/* Long messages wrap in the terminal; only control
			 * characters are neutralised here. */
			queue_fit(&out, m->text, QUEUE_MAX_REPLY);
			buf_putc(&out, '\n');
		}
	}
	if (msgs) {
		buf_free(&out);
		sh->rc = 0;
		q->shown = msgs;
		return;
	}
	fwrite(out.p ? out.p : "", 1, out.len, stdout);
	buf_free(&out);
	sh->rc = fflush(stdout) == 0 ? 0 : 1;
}

/* The ticket's private notes: after the conversation in text, "notes" in JSON. */
static void show_notes(void *arg, int rc, const struct store_event *v, size_t n)
{
	struct showing *sh = arg;
	struct queue *q = sh->q;
	struct buf out;
	if (rc < 0) {
		db_fail("read the notes");
		sh->rc = 1;
		return;
	}
	buf_init(&out, 0);
	for (size_t i = 0; i < n; i++) {
		if (!v[i].kind || strcmp(v[i].kind, "note") != 0)
			continue;
		if (q->shown) {
			json_t *o = json_object();
			json_object_set_new(o, "agent", json_text(v[i].actor));
			json_object_set_new(o, "text", json_text(v[i].detail));
			json_object_set_new(o, "ts", json_time(v[i].ts));
			json_array_append_new(q->shown, o);
			continue;
		}
		char when[40];
		local_time(q, v[i].ts, when, sizeof(when));
		buf_printf(&out, "[%s] private note by ", when);
		queue_fit(&out, v[i].actor ? v[i].actor : "?", 40);
		buf_puts(&out, ":\n    ");
		queue_fit(&out, v[i].detail, QUEUE_MAX_REPLY);
		buf_putc(&out, '\n');
	}
	if (!q->shown && out.len) {
		fwrite(out.p, 1, out.len, stdout);
		sh->rc = fflush(stdout) == 0 ? 0 : 1;
	}
	buf_free(&out);
}

static void show_ticket(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct showing *sh = arg;
	struct queue *q = sh->q;
	if (rc < 0 || n != 1) {
		if (rc < 0)
			db_fail("read the ticket");
		else
			fprintf(stderr, "frontdesk queue: ticket %lld not found\n", (long long)sh->id);
		return;
	}
	const struct store_ticket *t = &v[0];
	if (!q->json) {
		struct buf out;
		char created[40], due[40], rel[48];
		buf_init(&out, 0);
		local_time(q, t->created, created, sizeof(created));
		local_time(q, t->due, due, sizeof(due));
		if (t->status && strcmp(t->status, "resolved") == 0)
			snprintf(rel, sizeof(rel), "resolved");
		else
			queue_relative(t->due, q->now, rel, sizeof(rel));
		buf_printf(&out, "ticket %lld  %s  %s", (long long)sh->id, t->status ? t->status : "?",
		           t->priority ? t->priority : "?");
		if (t->reason)
			buf_printf(&out, "  (%s)", t->reason);
		buf_puts(&out, "\nauthor:   ");
		queue_fit(&out, t->author ? t->author : "-", 60);
		buf_puts(&out, "\nplatform: ");
		queue_fit(&out, t->platform, 60);
		if (t->email) {
			buf_puts(&out, "\ne-mail:   ");
			queue_fit(&out, t->email, 260);
		}
		if (t->rating) {
			buf_printf(&out, "\nrating:   %d/5", t->rating);
			if (t->rating_comment) {
				buf_puts(&out, " \"");
				queue_fit(&out, t->rating_comment, 200);
				buf_putc(&out, '"');
			}
		}
		buf_printf(&out, "\ncreated:  %s\ndue:      %s (%s)\nassignee: ", created, due, rel);
		queue_fit(&out, t->assignee ? t->assignee : "-", 60);
		if (t->n_labels) {
			buf_puts(&out, "\nlabels:   ");
			for (size_t i = 0; i < t->n_labels; i++) {
				if (i)
					buf_puts(&out, ", ");
				queue_fit(&out, t->labels[i], 64);
			}
		}
		if (t->snoozed_until > q->now) {
			char until[40];
			local_time(q, t->snoozed_until, until, sizeof(until));
			buf_printf(&out, "\nsnoozed:  until %s", until);
		}
		/* WhatsApp, Messenger, Instagram: replies only for a while after
		 * the customer's last message. */
		const struct connector_conf *cc =
		    t->connector ? config_connector(q->cfg, t->connector) : NULL;
		time_t until = connector_reply_until(cc, 1, t->last_in);
		char why[384];
		if (until && t->status && strcmp(t->status, "resolved") != 0) {
			if (connector_reply_allowed(cc, 1, t->last_in, q->now, why, sizeof(why))) {
				char when[40];
				local_time(q, until, when, sizeof(when));
				buf_printf(&out, "\nreplies:  possible until %s", when);
			} else {
				buf_printf(&out, "\nreplies:  not possible: %s", why);
			}
		}
		buf_puts(&out, "\n\n");
		fwrite(out.p, 1, out.len, stdout);
		buf_free(&out);
	}
	/* The conversation up to the ticket's end: a resolved ticket does not
	 * show what the thread said afterwards (the store's read model). */
	q->shown = NULL;
	store_ticket_messages(q->store, sh->id, QUEUE_SHOW_MESSAGES, show_messages, sh);
	if (q->json && q->shown) {
		json_t *obj = ticket_json(t);
		json_object_set_new(obj, "messages", q->shown);
		q->shown = json_array();
		store_ticket_events(q->store, sh->id, QUEUE_SHOW_MESSAGES, show_notes, sh);
		json_object_set_new(obj, "notes", q->shown);
		q->shown = NULL;
		sh->rc = print_json(obj);
	} else if (q->json) {
		sh->rc = 1;
	} else if (sh->rc == 0) {
		store_ticket_events(q->store, sh->id, QUEUE_SHOW_MESSAGES, show_notes, sh);
	}
}

static int cmd_show(struct queue *q, int64_t id)
{
	struct showing sh = {.q = q, .id = id, .rc = 1};
	struct store_ticket_query tq = {.id = id};
	store_tickets(q->store, &tq, show_ticket, &sh);
	return sh.rc;
}

/* ---- actions -------------------------------------------------------------------- */

struct ticket_read {
	struct store_ticket t;
	int rc;
};

static void ticket_got(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct ticket_read *r = arg;
	r->rc = rc < 0 ? -1 : n == 1;
	if (r->rc == 1)
		store_ticket_copy(&r->t, &v[0]);
}

/* Ticket id into *t (store_ticket_free): 1 found, 0 absent, -1 error. */
static int ticket_read(struct queue *q, int64_t id, struct store_ticket *t)
{
	struct ticket_read r = {.rc = -1};
	struct store_ticket_query tq = {.id = id};
	store_tickets(q->store, &tq, ticket_got, &r);
	if (r.rc < 0)
		db_fail("read the ticket");
	*t = r.t;
	return r.rc;
}

static void set_rc(void *arg, int rc)
{
	*(int *)arg = rc;
}

static void rows_rc(void *arg, int rc, const struct store_out *rows, size_t n)
{
	(void)rows;
	(void)n;
	*(int *)arg = rc;
}

/* Commit the action's group after the store answered rc; 0, or 1 with a
 * message (the group is dropped). */
static int commit(struct queue *q, int rc)
{
	if (rc != 0 || store_commit_sync(q->store) < 0) {
		store_rollback(q->store);
		fprintf(stderr, "frontdesk queue: the change could not be saved (see the log line above)\n");
		return 1;
	}
	return 0;
}

/*
 * After ticket id was resolved in the open group: the satisfaction
 * question, when one is asked (satisfaction.h), in the same group;
 * *asked says whether.  The store's rc (0 also when none is asked).
 */
static int ask_rating(struct queue *q, int64_t id, int *asked)
{
	struct store_ticket tk;
	char *parts[STORE_MAX_PARTS];
	struct diag d;
	int rc = 0;

	*asked = 0;
	if (!q->cfg->satisfaction_ask || ticket_read(q, id, &tk) <= 0)
		return 0;
	diag_init(&d);
	struct replies *r = replies_load(q->cfg->reply_files, &d);
	diag_free(&d);
	size_t n = satisfaction_question(q->cfg, r, &tk, parts, STORE_MAX_PARTS);
	if (n) {
		store_rating_ask(q->store, id, (const char *const *)parts, n, q->now, rows_rc, &rc);
		*asked = rc == 0;
		if (rc == 1)
			rc = 0;
	}
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	replies_free(r);
	store_ticket_free(&tk);
	return rc;
}

enum action_kind { A_CLAIM, A_REPLY, A_RELEASE, A_RESOLVE, A_REOPEN, A_NOTE, A_LABEL, A_PRIORITY, A_SNOOZE };

static int cmd_team_side(struct queue *q, enum action_kind a, const struct store_ticket *t, const char *login,
                         const char *text, int remove);

static int cmd_action(struct queue *q, enum action_kind a, int64_t id, const struct team_agent *agent,
                      const char *text, int remove)
{
	char status[16], assignee[STORE_MAX_NAME], connector[STORE_MAX_KEY];
	const char *login = agent ? agent->login : "cli";
	struct store_ticket tk;
	int rc;

	rc = ticket_read(q, id, &tk);
	if (rc <= 0) {
		if (rc == 0)
			fprintf(stderr, "frontdesk queue: ticket %lld not found\n", (long long)id);
		return 1;
	}
	snprintf(status, sizeof(status), "%s", tk.status ? tk.status : "");
	snprintf(assignee, sizeof(assignee), "%s", tk.assignee ? tk.assignee : "");
	snprintf(connector, sizeof(connector), "%s", tk.connector ? tk.connector : "");
	time_t last_in = tk.last_in; /* the customer's newest message (reply windows) */
	if (a >= A_REOPEN) {
		rc = cmd_team_side(q, a, &tk, login, text, remove);
		store_ticket_free(&tk);
		return rc;
	}
	store_ticket_free(&tk);
	int resolved = strcmp(status, "resolved") == 0;
	switch (a) {
	case A_CLAIM:
		if (resolved) {
			fprintf(stderr, "frontdesk queue: ticket %lld is resolved and cannot be claimed\n",
			        (long long)id);
			return 1;
		}
		if (strcmp(status, "claimed") == 0 && strcmp(assignee, login) == 0) {
			printf("ticket %lld is already claimed by %s\n", (long long)id, login);
			return 0;
		}
		store_ticket_claim(q->store, id, login, q->now, set_rc, &rc);
		if (commit(q, rc))
			return 1;
		if (*assignee)
			printf("ticket %lld claimed by %s (taken over from %s)\n", (long long)id, login,
			       assignee);
		else
			printf("ticket %lld claimed by %s\n", (long long)id, login);
		return 0;
	case A_REPLY: {
		if (resolved) {
			fprintf(stderr,
			        "frontdesk queue: ticket %lld is resolved: the bot has the thread again\n",
			        (long long)id);
			return 1;
		}
		char *parts[STORE_MAX_PARTS], why[384];
		const char *name = agent->name ? agent->name : login;
		/* Past the platform's window the reply could never be delivered. */
		if (!connector_reply_allowed(config_connector(q->cfg, connector), 1, last_in, q->now, why,
		                             sizeof(why))) {
			fprintf(stderr, "frontdesk queue: reply to ticket %lld refused: %s\n", (long long)id,
			        why);
			return 1;
		}
		const char *t = text;
		while (*t == ' ' || *t == '\n' || *t == '\r' || *t == '\t')
			t++;
		if (!*t) {
			fprintf(stderr, "frontdesk queue: the reply is empty\n");
			return EXIT_USAGE;
		}
		size_t n = dashboard_reply_parts(q->cfg, connector, t, name, parts, STORE_MAX_PARTS);
		store_agent_reply(q->store, id, login, name, (const char *const *)parts, n, q->now, rows_rc,
		                  &rc);
		for (size_t i = 0; i < n; i++)
			free(parts[i]);
		if (commit(q, rc))
			return 1;
		printf("reply to ticket %lld stored (%zu part%s); the running daemon sends it\n",
		       (long long)id, n, n == 1 ? "" : "s");
		return 0;
	}
	case A_RELEASE:
		if (strcmp(status, "claimed") != 0) {
			printf("ticket %lld is not claimed (%s)\n", (long long)id, status);
			return 0;
		}
		store_ticket_release(q->store, id, login, q->now, set_rc, &rc);
		if (commit(q, rc))
			return 1;
		printf("ticket %lld released (was claimed by %s)\n", (long long)id, assignee);
		return 0;
	case A_RESOLVE:
		if (resolved) {
			printf("ticket %lld is already resolved\n", (long long)id);
			return 0;
		}
		store_ticket_resolve(q->store, id, login, q->now, set_rc, &rc);
		int asked = 0;
		if (rc == 0)
			rc = ask_rating(q, id, &asked);
		if (commit(q, rc))
			return 1;
		printf("ticket %lld resolved%s\n", (long long)id,
		       asked ? "; the customer is asked to rate the conversation" : "");
		return 0;
	default: break;
	}
	return 1;
}

/* reopen, note, label, priority, snooze on ticket t. */
static int cmd_team_side(struct queue *q, enum action_kind a, const struct store_ticket *t, const char *login,
                         const char *text, int remove)
{
	long long id = (long long)t->id;
	int resolved = t->status && !strcmp(t->status, "resolved");
	int rc = -1;
	switch (a) {
	case A_REOPEN: {
		if (!resolved) {
			printf("ticket %lld is not resolved (%s)\n", id, t->status ? t->status : "?");
			return 0;
		}
		time_t due = config_due(q->cfg, priority_parse(t->priority), q->now);
		store_ticket_reopen(q->store, t->id, due, login, q->now, set_rc, &rc);
		if (rc == 1) {
			fprintf(stderr,
			        "frontdesk queue: ticket %lld cannot be reopened: the customer has written "
			        "since and "
			        "has a newer ticket\n",
			        id);
			store_rollback(q->store);
			return 1;
		}
		if (commit(q, rc))
			return 1;
		printf("ticket %lld reopened: waiting for a person again\n", id);
		return 0;
	}
	case A_NOTE:
		while (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t')
			text++;
		if (!*text || strlen(text) > STORE_MAX_NOTE) {
			fprintf(stderr, "frontdesk queue: the note is empty or too long\n");
			return EXIT_USAGE;
		}
		store_ticket_note(q->store, t->id, login, text, q->now, set_rc, &rc);
		if (commit(q, rc))
			return 1;
		printf("note added to ticket %lld (agents see it; the customer never does)\n", id);
		return 0;
	case A_LABEL: {
		const struct team_label *l = team_label(q->team, text);
		if (!l && !remove) {
			fprintf(stderr,
			        "frontdesk queue: no label '%s' (dashboard.labels, or Settings in the "
			        "dashboard)\n",
			        text);
			return EXIT_USAGE;
		}
		store_ticket_label(q->store, t->id, l ? l->name : text, !remove, login, q->now, set_rc, &rc);
		if (rc == 1) {
			store_rollback(q->store);
			printf("ticket %lld %s label '%s' already\n", id,
			       remove ? "does not have the" : "has the", text);
			return 0;
		}
		if (commit(q, rc))
			return 1;
		printf("ticket %lld: label '%s' %s\n", id, l ? l->name : text, remove ? "removed" : "added");
		return 0;
	}
	case A_PRIORITY: {
		enum priority p = priority_parse(text);
		if (p == PRIO_NONE) {
			fprintf(stderr,
			        "frontdesk queue: priority must be urgent, high, normal or low, not '%s'\n",
			        text);
			return EXIT_USAGE;
		}
		if (resolved) {
			fprintf(stderr, "frontdesk queue: ticket %lld is resolved\n", id);
			return 1;
		}
		time_t due = config_due(q->cfg, p, t->created);
		store_ticket_priority(q->store, t->id, text, due, login, q->now, set_rc, &rc);
		if (rc == 1) {
			store_rollback(q->store);
			printf("ticket %lld is %s already\n", id, text);
			return 0;
		}
		if (commit(q, rc))
			return 1;
		char rel[48];
		queue_relative(due, q->now, rel, sizeof(rel));
		printf("ticket %lld is %s now, due %s\n", id, text, rel);
		return 0;
	}
	case A_SNOOZE: {
		time_t until = 0;
		long secs;
		if (strcmp(text, "off") != 0) {
			if (parse_duration(text, &secs) == 0 && secs > 0)
				until = q->now + secs;
			else if (time_parse_iso(text, &until) < 0 || until <= q->now) {
				fprintf(stderr, "frontdesk queue: snooze until when? (2h, 1d, an ISO-8601 "
				                "time, or off)\n");
				return EXIT_USAGE;
			}
		}
		if (resolved) {
			fprintf(stderr, "frontdesk queue: ticket %lld is resolved\n", id);
			return 1;
		}
		store_ticket_snooze(q->store, t->id, until, login, q->now, set_rc, &rc);
		if (commit(q, rc))
			return 1;
		if (until) {
			char when[48];
			local_time(q, until, when, sizeof(when));
			printf("ticket %lld snoozed until %s (or until the customer writes)\n", id, when);
		} else {
			printf("ticket %lld is back in the queue\n", id);
		}
		return 0;
	}
	default: return 1;
	}
}

/* ---- the command line --------------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
	fputs("frontdesk queue: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see frontdesk queue --help)\n", stderr);
	return EXIT_USAGE;
}

static int parse_id(const char *s, int64_t *id)
{
	long v;
	if (s && *s == '#')
		s++;
	if (!s || parse_long(s, &v) < 0 || v <= 0)
		return -1;
	*id = v;
	return 0;
}

static int is_help(const char *s)
{
	return !strcmp(s, "--help") || !strcmp(s, "-h") || !strcmp(s, "help");
}

struct args {
	const char *cmd;
	int64_t id;
	int have_id;
	int json;
	enum status_filter status;
	int have_status;
	const char *agent;
	struct buf text;
	int have_text;
	int remove;
	/* search filters */
	const char *priority, *channel, *assignee, *label, *since, *until;
};

/* Commands that take words after the ticket number (all of them joined),
 * and those that take no ticket number. */
static int takes_words(const char *cmd)
{
	static const char *const v[] = {"reply", "note", "label", "priority", "snooze", "search", NULL};
	for (size_t i = 0; v[i]; i++)
		if (!strcmp(cmd, v[i]))
			return 1;
	return 0;
}

static int takes_no_id(const char *cmd)
{
	return !strcmp(cmd, "list") || !strcmp(cmd, "search");
}

/* --name VALUE or --name=VALUE at argv[*i] into *out: 1 matched, 0 not this
 * option, -1 a usage error (said). */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **out)
{
	size_t n = strlen(name);
	const char *s = argv[*i];
	if (strncmp(s, name, n) != 0 || (s[n] != '\0' && s[n] != '='))
		return 0;
	const char *v = s[n] == '=' ? s + n + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
	if (!v || !*v) {
		usage_error("%s needs a value", name);
		return -1;
	}
	*out = v;
	return 1;
}

/* Parse argv[1..] into a; returns 0, or the exit code of a usage error. */
static int parse_args(int argc, char **argv, struct args *a)
{
	int only_words = 0;

	a->cmd = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		if (!only_words && !strcmp(s, "--")) {
			only_words = 1;
		} else if (!only_words && !strcmp(s, "--json")) {
			a->json = 1;
		} else if (!only_words && (!strcmp(s, "--status") || !strncmp(s, "--status=", 9))) {
			const char *v = s[8] == '=' ? s + 9 : (i + 1 < argc ? argv[++i] : NULL);
			size_t k;
			for (k = 0; v && k < ARRAY_LEN(status_names); k++)
				if (!strcmp(v, status_names[k]))
					break;
			if (!v || k == ARRAY_LEN(status_names))
				return usage_error(
				    "--status wants open, waiting, claimed, resolved or all, not '%s'",
				    v ? v : "");
			a->status = (enum status_filter)k;
			a->have_status = 1;
		} else if (!only_words && (!strcmp(s, "--agent") || !strncmp(s, "--agent=", 8))) {
			const char *v = s[7] == '=' ? s + 8 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v || !*v)
				return usage_error("%s needs an agent login", "--agent");
			a->agent = v;
		} else if (!only_words && !strcmp(s, "--remove")) {
			a->remove = 1;
		} else if (!only_words && s[0] == '-' && s[1] == '-') {
			static const char *const names[] = {"--priority", "--channel", "--assignee",
			                                    "--label",    "--since",   "--until"};
			const char **slots[] = {&a->priority, &a->channel, &a->assignee,
			                        &a->label,    &a->since,   &a->until};
			int m = 0;
			for (size_t k = 0; k < ARRAY_LEN(names) && m == 0; k++)
				m = opt_value(argc, argv, &i, names[k], slots[k]);
			if (m < 0)
				return EXIT_USAGE;
			if (m == 0)
				return usage_error("unknown option '%s'", s);
		} else if (!only_words && s[0] == '-' && s[1] != '\0' && !(s[1] >= '0' && s[1] <= '9')) {
			return usage_error("unknown option '%s'", s);
		} else if (!a->have_id && !takes_no_id(a->cmd)) {
			if (parse_id(s, &a->id) < 0)
				return usage_error("'%s' is not a ticket number", s);
			a->have_id = 1;
		} else if (takes_words(a->cmd)) {
			if ((a->have_text && buf_putc(&a->text, ' ') < 0) || buf_puts(&a->text, s) < 0) {
				fprintf(stderr, "frontdesk queue: the text is longer than %u bytes\n",
				        QUEUE_MAX_REPLY);
				return EXIT_USAGE;
			}
			a->have_text = 1;
		} else {
			return usage_error("unexpected argument '%s'", s);
		}
	}
	return 0;
}

/* Which options each command takes; 0 or a usage error. */
static int check_args(const struct args *a)
{
	int is_list = !strcmp(a->cmd, "list"), is_show = !strcmp(a->cmd, "show");
	int is_search = !strcmp(a->cmd, "search");
	int is_reply = !strcmp(a->cmd, "reply"), is_claim = !strcmp(a->cmd, "claim");
	int is_note = !strcmp(a->cmd, "note");
	int filters = a->priority || a->channel || a->assignee || a->label || a->since || a->until;

	if (!takes_no_id(a->cmd) && !a->have_id)
		return usage_error("%s needs a ticket number", a->cmd);
	if (a->json && !is_list && !is_show && !is_search)
		return usage_error("--json is for list, show and search, not %s", a->cmd);
	if (a->have_status && !is_list && !is_search)
		return usage_error("--status is for list and search, not %s", a->cmd);
	if (filters && !is_search)
		return usage_error(
		    "--priority, --channel, --assignee, --label, --since and --until are for search, "
		    "not %s",
		    a->cmd);
	if (a->remove && strcmp(a->cmd, "label") != 0)
		return usage_error("--remove is for label, not %s", a->cmd);
	if (a->agent && (is_list || is_show || is_search))
		return usage_error("--agent is not for %s", a->cmd);
	if ((is_reply || is_claim || is_note) && !a->agent)
		return usage_error("%s needs --agent LOGIN", a->cmd);
	if (takes_words(a->cmd) && !is_search && !a->have_text)
		return usage_error("%s needs what to write after the ticket number", a->cmd);
	return 0;
}

/* ---- search ------------------------------------------------------------------- */

static int cmd_search(struct queue *q, const struct args *a)
{
	struct store_search sq = {
	    .text = a->text.p,
	    .status = a->have_status ? (enum store_ticket_filter)a->status : TICKETS_ALL,
	    .priority = a->priority,
	    .platform = a->channel,
	    .assignee = a->assignee && !strcmp(a->assignee, "none") ? "" : a->assignee,
	    .label = a->label,
	    .limit = STORE_SEARCH_MAX,
	};
	long secs;
	const char *const bounds[] = {a->since, a->until};
	time_t *outs[] = {&sq.since, &sq.until};
	for (size_t i = 0; i < 2; i++) {
		if (!bounds[i])
			continue;
		/* An ISO-8601 time, or how long ago: --since 7d. */
		if (parse_duration(bounds[i], &secs) == 0)
			*outs[i] = q->now - secs;
		else if (time_parse_iso(bounds[i], outs[i]) < 0)
			return usage_error("'%s' is neither a time (ISO-8601) nor a duration like 7d",
			                   bounds[i]);
	}
	if (sq.priority && priority_parse(sq.priority) == PRIO_NONE)
		return usage_error("--priority wants urgent, high, normal or low, not '%s'", sq.priority);
	struct listing l = {.q = q, .f = a->have_status ? a->status : ST_ALL, .rc = 1, .search = 1};
	store_search(q->store, &sq, listed, &l);
	return l.rc;
}

struct team_load {
	struct team *team;
	const char *kind;
};

static void team_loaded(void *arg, int rc, const struct store_team_item *v, size_t n)
{
	struct team_load *tl = arg;
	if (rc == 0)
		team_set_stored(tl->team, tl->kind, v, n);
}

int queue_main(const char *config_path, int argc, char **argv)
{
	static const char *const commands[] = {
	    "list",  "show",     "claim",  "reply",  "release", "resolve", "reopen",   "note",
	    "label", "priority", "snooze", "search", "teach",   "taught",  "untaught", NULL};
	struct args a;
	struct queue q;
	int rc;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (teach_cli_command(argv[1]))
		return teach_cli_main(config_path, argc, argv);
	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_text, stdout);
			return 0;
		}
	}
	size_t k;
	for (k = 0; commands[k]; k++)
		if (!strcmp(argv[1], commands[k]))
			break;
	if (!commands[k]) {
		const char *hint = did_you_mean(argv[1], commands);
		fprintf(stderr, "frontdesk queue: unknown command '%s'%s%s%s (see frontdesk queue --help)\n",
		        argv[1], hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
		return EXIT_USAGE;
	}

	memset(&a, 0, sizeof(a));
	buf_init(&a.text, QUEUE_MAX_REPLY);
	rc = parse_args(argc, argv, &a);
	if (rc == 0)
		rc = check_args(&a);
	if (rc != 0) {
		buf_free(&a.text);
		return rc;
	}
	memset(&q, 0, sizeof(q));
	rc = cli_store_open("queue", config_path, &q.cfg, &q.store);
	if (rc != 0) {
		buf_free(&a.text);
		return rc;
	}
	q.now = time(NULL);
	q.json = a.json;

	/* The team: config.yaml's agents and labels, and the dashboard's. */
	q.team = team_new();
	team_set_config(q.team, q.cfg);
	static const char *const kinds[] = {"agent", "label"};
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		struct team_load tl = {.team = q.team, .kind = kinds[i]};
		store_team_list(q.store, kinds[i], team_loaded, &tl);
	}
	const struct team_agent *agent = NULL;
	if (a.agent && !(agent = team_agent(q.team, a.agent))) {
		fprintf(stderr,
		        "frontdesk queue: '%s' is not an agent in %s (dashboard.agents) or added in the "
		        "dashboard\n",
		        a.agent, q.cfg->path);
		team_free(q.team);
		store_close(q.store);
		config_free(q.cfg);
		buf_free(&a.text);
		return EXIT_USAGE;
	}

	static const struct {
		const char *cmd;
		enum action_kind a;
	} actions[] = {{"claim", A_CLAIM},     {"reply", A_REPLY},       {"release", A_RELEASE},
	               {"resolve", A_RESOLVE}, {"reopen", A_REOPEN},     {"note", A_NOTE},
	               {"label", A_LABEL},     {"priority", A_PRIORITY}, {"snooze", A_SNOOZE}};
	if (!strcmp(a.cmd, "list")) {
		rc = cmd_list(&q, a.status);
	} else if (!strcmp(a.cmd, "show")) {
		rc = cmd_show(&q, a.id);
	} else if (!strcmp(a.cmd, "search")) {
		rc = cmd_search(&q, &a);
	} else {
		rc = EXIT_USAGE;
		for (size_t i = 0; i < ARRAY_LEN(actions); i++)
			if (!strcmp(a.cmd, actions[i].cmd))
				rc = cmd_action(&q, actions[i].a, a.id, agent, a.text.p, a.remove);
	}

	team_free(q.team);
	store_close(q.store);
	config_free(q.cfg);
	buf_free(&a.text);
	return rc;
}
