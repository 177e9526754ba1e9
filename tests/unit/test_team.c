/*
 * test_team.c - the team from config.yaml and from the dashboard (team.h):
 * which agent, password, label wins, and what a password change stores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "store.h"
#include "team.h"
#include "util.h"

static char sam_login[] = "sam", sam_name[] = "Sam", sam_hash[] = "$y$config-hash-of-sam";
static char kim_login[] = "kim", kim_name[] = "Kim", kim_hash[] = "$y$config-hash-of-kim";
static char l_refund[] = "refund", l_red[] = "#e11d48", l_vip[] = "vip";

static struct config *config_of_two(void)
{
	static struct agent_conf agents[2];
	static struct label_conf labels[2];
	static struct config c;
	agents[0] =
	    (struct agent_conf){.login = sam_login, .name = sam_name, .password_hash = sam_hash, .admin = 1};
	agents[1] = (struct agent_conf){.login = kim_login, .name = kim_name, .password_hash = kim_hash};
	labels[0] = (struct label_conf){.name = l_refund, .color = l_red};
	labels[1] = (struct label_conf){.name = l_vip};
	memset(&c, 0, sizeof(c));
	c.agents = agents;
	c.nagents = 2;
	c.labels = labels;
	c.nlabels = 2;
	return &c;
}

static void config_agents_and_labels(void **state)
{
	(void)state;
	struct team *t = team_new();
	const struct team_agent *a;
	const struct team_label *l;
	team_set_config(t, config_of_two());
	assert_int_equal(team_agents(t, &a), 2);
	assert_non_null(a = team_agent(t, "SAM"));
	assert_string_equal(a->password_hash, sam_hash);
	assert_int_equal(a->admin, 1);
	assert_int_equal(a->source, TEAM_CONFIG);
	assert_int_equal(team_agent(t, "kim")->admin, 0);
	assert_null(team_agent(t, "zoe"));
	assert_int_equal(team_labels(t, &l), 2);
	assert_string_equal(team_label(t, "Refund")->color, "#e11d48");
	/* A label without a colour gets one, always the same. */
	assert_string_equal(team_label(t, "vip")->color, team_default_colour("vip"));
	assert_int_equal(team_label(t, "vip")->color[0], '#');
	team_free(t);
}

static void dashboard_agents_and_passwords(void **state)
{
	(void)state;
	struct team *t = team_new();
	team_set_config(t, config_of_two());

	/* Sam changes his password in the dashboard; Zoe is added there; a
	 * dashboard agent called kim loses to config.yaml's kim. */
	char *sam_new = team_password_value(t, "sam", "$y$new-hash-of-sam");
	assert_non_null(sam_new);
	char *zoe = team_agent_value("Zoe", 0, "$y$hash-of-zoe", NULL);
	char *kim2 = team_agent_value("Impostor", 1, "$y$other", NULL);
	struct store_team_item items[] = {{.key = "sam", .value = sam_new},
	                                  {.key = "zoe", .value = zoe},
	                                  {.key = "kim", .value = kim2},
	                                  {.key = "bad login!", .value = zoe},
	                                  {.key = "broken", .value = "not json"}};
	team_set_stored(t, "agent", items, 5);
	const struct team_agent *v;
	assert_int_equal(team_agents(t, &v), 3);
	const struct team_agent *sam = team_agent(t, "sam");
	assert_string_equal(sam->password_hash, "$y$new-hash-of-sam");
	assert_int_equal(sam->password_changed, 1);
	assert_int_equal(sam->admin, 1); /* the role stays the config's */
	assert_string_equal(sam->name, "Sam");
	const struct team_agent *kim = team_agent(t, "kim");
	assert_string_equal(kim->name, "Kim");
	assert_string_equal(kim->password_hash, kim_hash);
	assert_int_equal(kim->admin, 0);
	const struct team_agent *z = team_agent(t, "zoe");
	assert_string_equal(z->name, "Zoe");
	assert_int_equal(z->source, TEAM_DASHBOARD);
	assert_int_equal(z->admin, 0);

	/* The owner resets Sam's password in config.yaml: the config's wins again. */
	static char reset[] = "$y$reset-by-the-owner";
	struct config *c = config_of_two();
	c->agents[0].password_hash = reset;
	team_set_config(t, c);
	sam = team_agent(t, "sam");
	assert_string_equal(sam->password_hash, reset);
	assert_int_equal(sam->password_changed, 0);
	c->agents[0].password_hash = sam_hash;

	/* A dashboard agent changing its password keeps its name and role. */
	char *zoe_new = team_password_value(t, "zoe", "$y$zoe-2");
	assert_non_null(strstr(zoe_new, "\"name\":\"Zoe\""));
	assert_null(strstr(zoe_new, "replaces"));
	assert_null(team_password_value(t, "nobody", "$y$x"));
	free(zoe_new);
	free(sam_new);
	free(zoe);
	free(kim2);
	team_free(t);
}

static void dashboard_labels_and_canned(void **state)
{
	(void)state;
	struct team *t = team_new();
	team_set_config(t, config_of_two());
	struct store_team_item labels[] = {{.key = "REFUND", .value = "#000000"},
	                                   {.key = "late", .value = "#0f766e"},
	                                   {.key = "bad,label", .value = "#000000"},
	                                   {.key = "x", .value = "red"}};
	team_set_stored(t, "label", labels, 4);
	const struct team_label *l;
	assert_int_equal(team_labels(t, &l), 3);
	assert_string_equal(team_label(t, "refund")->color, "#e11d48"); /* the config's wins */
	assert_int_equal(team_label(t, "refund")->source, TEAM_CONFIG);
	assert_int_equal(team_label(t, "late")->source, TEAM_DASHBOARD);
	struct store_team_item canned[] = {{.key = "Refund policy", .value = "Within 14 days."}};
	team_set_stored(t, "canned", canned, 1);
	const struct team_canned *cv;
	assert_int_equal(team_canned(t, &cv), 1);
	assert_string_equal(cv[0].title, "Refund policy");
	/* A reload of the configuration keeps the stored part. */
	team_set_config(t, config_of_two());
	assert_int_equal(team_labels(t, &l), 3);
	assert_int_equal(team_canned(t, &cv), 1);
	team_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(config_agents_and_labels),
	    cmocka_unit_test(dashboard_agents_and_passwords),
	    cmocka_unit_test(dashboard_labels_and_canned),
	};
	log_threshold = LOG_ERROR + 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
