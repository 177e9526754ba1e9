#!/bin/sh
# The command line contract: exit codes, check's summary and refusals,
# try/replay decision records and replay's error records.
set -u
B=${BUILD:-build}
FD="$B/frontdesk"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
expect_rc() { # name want cmd...
	name=$1 want=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" = "$want" ]; then ok "$name (exit $rc)"; else bad "$name: exit $rc, wanted $want"; cat "$T/err"; fi
}

expect_rc "--version" 0 "$FD" --version
grep -q '^frontdesk [0-9]' "$T/out" || bad "--version prints the version"
expect_rc "--help" 0 "$FD" --help
expect_rc "unknown command" 2 "$FD" frobnicate
# libcurl and libpq are opened at their first use (bot/dynlib.h), not
# linked: with their dependencies (Kerberos, LDAP, GnuTLS...) they would
# cost every daemon about 13 MB of memory that most never use.
if ldd "$FD" >"$T/ldd" 2>&1; then
	if grep -E 'lib(pq|curl)[.-]|libgnutls|libgssapi|libldap' "$T/ldd"; then
		bad "the binary links neither libpq nor libcurl (nor what they pull in)"
	else
		ok "the binary links neither libpq nor libcurl (nor what they pull in)"
	fi
else
	bad "ldd $FD: $(cat "$T/ldd")"
fi
expect_rc "check example config" 0 "$FD" check -c config.yaml.example
tail -n 1 "$T/out" | grep -qx 'configuration OK' && ok "check ends with 'configuration OK'" || bad "check ends with 'configuration OK'"
expect_rc "-c after the command" 0 "$FD" check -c config.yaml.example

# A config with three mistakes: all three reported with file:line:col, exit 2.
mkdir -p "$T/cfg"
cat >"$T/cfg/config.yaml" <<'YAML'
business:
  name: Broken Shop
  timezone: Europe/Londn
  hours: { mon-fri: "09:00-25:00" }
  contakt: { phone: "1" }
rules: ["/nonexistent/*.yaml"]
YAML
expect_rc "check refuses a bad config" 2 "$FD" check -c "$T/cfg/config.yaml"
grep -q 'config.yaml:3:[0-9]*:.*Europe/Londn' "$T/err" && ok "bad time zone named at line 3" || bad "bad time zone named at line 3"
grep -q 'config.yaml:4:[0-9]*:.*25:00' "$T/err" && ok "bad hours named at line 4" || bad "bad hours named at line 4"
grep -q "config.yaml:5:[0-9]*:.*contakt.*did you mean 'contact'" "$T/err" && ok "unknown key with did-you-mean" || bad "unknown key with did-you-mean"
cat "$T/err" | head -5

# A connector type this build cannot run is refused by check (run would
# only fail), naming the types it has.
sed 's|^connectors:$|connectors:\n  - { type: irc, token_env: IRC_TOKEN }|' \
	config.yaml.example >"$T/irc.yaml"
cp -r rules replies "$T/" 2>/dev/null
expect_rc "check refuses a connector type this build lacks" 2 "$FD" check -c "$T/irc.yaml"
grep -q "connectors\[0\].type: this build of frontdesk has no 'irc' connector (it runs: webchat, mastodon, .*slack" "$T/err" &&
	ok "the refusal names the types this build runs" || { bad "the refusal names the types this build runs"; cat "$T/err"; }
expect_rc "run refuses it too, as a configuration error" 2 "$FD" run -c "$T/irc.yaml"
# One this build runs is accepted as the example documents it.
sed 's|^connectors:$|connectors:\n  - { type: slack, token_env: SLACK_BOT_TOKEN, app_token_env: SLACK_APP_TOKEN }|' \
	config.yaml.example >"$T/slack.yaml"
expect_rc "check accepts the Slack connector" 0 "$FD" check -c "$T/slack.yaml"

# A rule whose example fails: check names the rule and the example.
mkdir -p "$T/ex"
cp -r rules replies "$T/ex/"
sed 's|^rules: .*|rules: [rules/*.yaml, extra.yaml]|' config.yaml.example >"$T/ex/config.yaml"
# An example another rule's phrase claims first fails, named at its own line.
cat >"$T/ex/extra.yaml" <<'YAML'
- id: gift-cards
  match: { any: ["gift card"] }
  reply: faq.opening_hours
  examples:
    - "do you sell gift cards"
    - "what are your opening hours"
YAML
expect_rc "check fails on a failing example" 2 "$FD" check -c "$T/ex/config.yaml"
grep -q "extra.yaml:6: rule 'gift-cards': example \"what are your opening hours\" was decided answer (rule opening-hours)" "$T/err" && ok "failing example named at its line" || { bad "failing example named at its line"; cat "$T/err"; }

# Cross-validation: a rule whose examples say nothing alike is learned
# only by heart; check warns at its line, passes, and --json has the figures.
cat >"$T/ex/extra.yaml" <<'YAML'
- id: gift-cards
  reply: faq.opening_hours
  examples:
    - "do you sell gift cards"
    - "can I buy a voucher for a friend"
    - "I would like a present token"
YAML
expect_rc "check passes with cross-validation warnings" 0 "$FD" check -c "$T/ex/config.yaml"
grep -q "extra.yaml:1: warning: rule 'gift-cards': [0-9] of 3 examples not recognised when left out of learning" "$T/err" && ok "cross-validation warning at the rule's line" || { bad "cross-validation warning at the rule's line"; cat "$T/err"; }
grep -q "recognised when left out of learning (5-fold cross-validation)" "$T/out" && ok "cross-validation summary" || bad "cross-validation summary"
expect_rc "check --json" 0 "$FD" check --json -c "$T/ex/config.yaml"
python3 - "$T/out" <<'PY' && ok "check --json per-rule figures" || bad "check --json per-rule figures"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["ok"] is True and o["errors"] == [] and o["examples"]["failed"] == 0, o
cv = o["crossval"]
assert cv["folds"] == 5 and cv["examples"] >= 300, cv["examples"]
g = [r for r in cv["rules"] if r["id"] == "gift-cards"][0]
assert g["file"].endswith("extra.yaml") and g["line"] == 1 and g["examples"] == 3, g
assert len(g["missed"]) == g["examples"] - g["recognised"] >= 1, g
assert all(m["line"] in (4, 5, 6) and "text" in m and "decided_as" in m for m in g["missed"]), g
assert sum(r["recognised"] for r in cv["rules"]) == cv["recognised"]
PY
expect_rc "check --json refuses a bad config" 2 "$FD" check --json -c "$T/cfg/config.yaml"
python3 -c "import json,sys; o=json.load(open(sys.argv[1])); assert o['ok'] is False and len(o['errors']) >= 3" "$T/out" && ok "check --json lists the errors" || bad "check --json lists the errors"

# A rules glob that matches a named pipe is refused at once, not waited on;
# a rule file nested 200,000 levels deep is refused at once too (composed
# naively it costs time in the square of its depth: minutes).
mkdir -p "$T/odd"
cp -r rules replies "$T/odd/"
cp config.yaml.example "$T/odd/config.yaml"
mkfifo "$T/odd/rules/zz-pipe.yaml"
expect_rc "check refuses a named pipe among the rules, without hanging" 2 timeout 30 "$FD" check -c "$T/odd/config.yaml"
grep -q "zz-pipe.yaml: not a regular file (a named pipe)" "$T/err" && ok "the pipe is named" || { bad "the pipe is named"; cat "$T/err"; }
rm "$T/odd/rules/zz-pipe.yaml"
{ printf -- '- id: deep\n  match: { any: '; head -c 200000 /dev/zero | tr '\0' '['; printf 'x'; head -c 200000 /dev/zero | tr '\0' ']'; printf ' }\n'; } >"$T/odd/rules/zz-deep.yaml"
expect_rc "check refuses a deeply nested rule file, at once" 2 timeout 30 "$FD" check -c "$T/odd/config.yaml"
grep -q "zz-deep.yaml:2:.*nested more than 64 levels deep" "$T/err" && ok "the nesting is named" || { bad "the nesting is named"; cat "$T/err"; }

# A config as the documentation shows it, away from the repository, with absolute
# globs and no `sentiment` key: the default lexicon is found beside the
# rules, or else the built-in copy is used, and check says which.
mkdir -p "$T/abs/rules"
cat >"$T/abs/config.yaml" <<YAML
business:
  name: Acme Bakery
  timezone: Europe/London
  hours: { mon-fri: "09:00-17:30", sat: "10:00-14:00", sun: closed }
  holidays: ["2026-12-25", "2026-12-26"]
  contact: { phone: "+44 20 7946 0000", email: hello@acme.example }
  response_targets: { urgent: 30m, high: 1h, normal: 4h, low: 1d }
rules: [$PWD/rules/*.yaml]
replies: [$PWD/replies/en.yaml]
store: { path: frontdesk.db }
YAML
expect_rc "check a config elsewhere with absolute globs" 0 "$FD" check -c "$T/abs/config.yaml"
grep -qx "            from $PWD/rules/lexicon/ (beside the rules)" "$T/out" && ok "lexicon found beside the rules" || { bad "lexicon found beside the rules"; cat "$T/out"; }
cp rules/*.yaml "$T/abs/rules/"
sed -i "s|^rules: .*|rules: [$T/abs/rules/*.yaml]|" "$T/abs/config.yaml"
expect_rc "check with rules that have no lexicon beside them" 0 "$FD" check -c "$T/abs/config.yaml"
grep -qx "            from the copy built into frontdesk" "$T/out" && ok "built-in lexicon used last" || { bad "built-in lexicon used last"; cat "$T/out"; }

# A business's own lexicon file with a broken model section: check names
# every mistake with file:line:col and refuses the configuration.
mkdir -p "$T/lx"
cp -r rules replies "$T/lx/"
cp config.yaml.example "$T/lx/config.yaml"
cat >"$T/lx/rules/lexicon/zz-local.yaml" <<'YAML'
model:
  weights:
    cue.failur: 2
    question: lots
  vocabulary:
    "out of (stock|": 1
YAML
expect_rc "check refuses a broken complaint model" 2 "$FD" check -c "$T/lx/config.yaml"
grep -q "zz-local.yaml:3:5: unknown feature 'cue.failur' in model.weights (did you mean 'cue.failure'?)" "$T/err" && ok "unknown model feature named" || { bad "unknown model feature named"; cat "$T/err"; }
grep -q "zz-local.yaml:4:15: expected a number from -50 to 50" "$T/err" && ok "bad model weight named" || bad "bad model weight named"
grep -q "zz-local.yaml:6:5: vocabulary entry" "$T/err" && ok "bad vocabulary entry named" || bad "bad vocabulary entry named"

# try explains the flag: the cues that fired, their weights and where they are.
expect_rc "try explains" 0 "$FD" -c config.yaml.example try "my parcel was meant to come on Tuesday, where is it?"
grep -q '^why: .*margin' "$T/out" && grep -q 'cue.overdue .*"meant to come"  (cues.yaml:[0-9]*)' "$T/out" && ok "try shows the cues with their file:line" || { bad "try shows the cues with their file:line"; cat "$T/out"; }

# try --json: one object with every field of the decision record.
expect_rc "try --json" 0 "$FD" -c config.yaml.example try --json --at 2026-11-25T10:00:00Z "when are you open on sunday?"
python3 - "$T/out" <<'PY' && ok "try --json record" || bad "try --json record"
import json, sys
o = json.load(open(sys.argv[1]))
need = ["id", "action", "rule", "priority", "negative", "sentiment", "abusive", "reason", "open", "due", "reply", "intent", "confidence"]
missing = [k for k in need if k not in o]
assert not missing, missing
assert o["action"] == "answer" and o["open"] is True and o["reply"], o
assert o["intent"] == o["rule"] and o["confidence"] == 1.0, o  # a phrase: certain
PY
expect_rc "try without text" 2 "$FD" -c config.yaml.example try
expect_rc "try with a bad --at" 2 "$FD" -c config.yaml.example try --at yesterday hello

# replay: order kept, ids echoed, bad lines become error records.
cat >"$T/in.jsonl" <<'JSONL'
{"id": "a1", "text": "what are your opening hours?", "at": "2026-11-25T10:00:00Z"}
not json at all
{"id": "a3", "text": 42}
{"id": 4, "text": "do you sell gift cards?", "at": "2026-11-27T22:00:00Z", "author": "Alex"}
["an", "array"]
{"id": "a6", "text": "hi", "at": "next tuesday"}

{"id": "a8", "text": "I want to speak to a person", "public": true, "channel": "mastodon"}
JSONL
expect_rc "replay --json" 0 "$FD" -c config.yaml.example replay --json "$T/in.jsonl"
python3 - "$T/out" <<'PY' && ok "replay records in order with errors" || { bad "replay records in order with errors"; cat "$T/out"; }
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 7, len(recs)
assert recs[0]["id"] == "a1" and recs[0]["action"] == "answer"
assert "error" in recs[1] and recs[1]["line"] == 2
assert recs[2]["id"] == "a3" and "text" in recs[2]["error"]
assert recs[3]["id"] == "4" and recs[3]["action"] == "escalate" and recs[3]["due"] == "2026-11-28T14:00:00+00:00"
assert "Alex" in recs[3]["reply"]
assert "error" in recs[4]
assert recs[5]["id"] == "a6" and "at" in recs[5]["error"]
assert recs[6]["id"] == "a8" and recs[6]["reason"] == "requested_human"
PY
grep -q '^replayed 7 posts: .* 4 errors' "$T/err" && ok "replay summary on stderr" || { bad "replay summary on stderr"; cat "$T/err"; }
printf '{"id":"s","text":"thanks!"}\n' | "$FD" -c config.yaml.example replay --json - >"$T/out" 2>/dev/null
grep -q '"id":"s"' "$T/out" && ok "replay from stdin" || bad "replay from stdin"
expect_rc "replay of a missing file" 1 "$FD" -c config.yaml.example replay /nonexistent.jsonl
# Text mode: an error is a text line like the decisions, and counts agree in number.
printf '{"id":"t1","text":"thanks!"}\nnot json\n' | "$FD" -c config.yaml.example replay - >"$T/out" 2>"$T/err"
sed -n 2p "$T/out" | grep -q "^-	error	line 2: invalid JSON" && ok "replay text mode: error as a text line" || { bad "replay text mode: error as a text line"; cat "$T/out"; }
grep -q '^{' "$T/out" && bad "replay text mode prints no JSON" || ok "replay text mode prints no JSON"
grep -q '^replayed 2 posts: .* 1 error$' "$T/err" && ok "replay summary: 1 error" || { bad "replay summary: 1 error"; cat "$T/err"; }
printf '{"id":"t1","text":"thanks!"}\n' | "$FD" -c config.yaml.example replay - >/dev/null 2>"$T/err"
grep -q '^replayed 1 post: .* 0 errors$' "$T/err" && ok "replay summary: 1 post" || { bad "replay summary: 1 post"; cat "$T/err"; }

# Web chat is private: whatever the bot says there never asks the customer to
# "send a direct message"; a public complaint is taken private with a short
# pointer left in public.
cat >"$T/private.jsonl" <<'JSONL'
{"id": "w1", "text": "this is terrible, my cake arrived smashed and cold", "channel": "webchat", "at": "2026-11-25T10:00:00Z"}
{"id": "w2", "text": "this is terrible, my cake arrived smashed and cold", "channel": "webchat", "at": "2026-11-25T22:00:00Z"}
{"id": "w3", "text": "I want a refund for my order", "channel": "webchat", "at": "2026-11-25T10:00:00Z"}
{"id": "w4", "text": "you charged me twice for the same order", "channel": "webchat", "at": "2026-11-25T10:00:00Z"}
{"id": "w5", "text": "I want a refund for my order", "channel": "webchat", "at": "2026-11-25T22:00:00Z"}
{"id": "m1", "text": "this is terrible, my cake arrived smashed and cold", "channel": "mastodon", "public": true, "at": "2026-11-25T10:00:00Z"}
{"id": "m2", "text": "do you sell gift vouchers for christmas?", "channel": "mastodon", "public": true, "at": "2026-11-25T10:00:00Z"}
JSONL
expect_rc "replay of private and public complaints" 0 "$FD" -c config.yaml.example replay --json "$T/private.jsonl"
python3 - "$T/out" <<'PY' && ok "web chat never asks for a direct message; a public complaint goes private" || { bad "web chat never asks for a direct message; a public complaint goes private"; cat "$T/out"; }
import json, sys
recs = {r["id"]: r for r in map(json.loads, open(sys.argv[1]))}
for i in ("w1", "w2", "w3", "w4", "w5"):
    r = recs[i]
    assert r["action"] == "escalate" and r["reply"], r
    assert "direct message" not in r["reply"].lower(), r
    assert r["private"] is True and r["pointer"] is None, r
m = recs["m1"]
assert m["private"] is True and m["pointer"] and "direct message" in m["pointer"], m
assert "direct message" not in m["reply"].lower(), m
v = recs["m2"]
assert v["reason"] == "unmatched" and v["private"] is False and v["pointer"] is None, v
PY

# passwd: a yescrypt hash that the config accepts.
printf 'correct horse\n' | "$FD" passwd >"$T/hash" 2>/dev/null
grep -q '^\$y\$' "$T/hash" && ok "passwd prints a yescrypt hash" || bad "passwd prints a yescrypt hash"
# ...of at least 10 characters (counted as characters: "café" is four).
printf 'frontdesk\n' | "$FD" passwd >"$T/hash" 2>"$T/err"
[ $? -eq 2 ] && [ ! -s "$T/hash" ] && grep -q 'at least 10 characters (9 given)' "$T/err" &&
	ok "passwd refuses a 9-character password" || { bad "passwd refuses a 9-character password"; cat "$T/err"; }
printf 'caf\303\251caf\303\251xyz\n' | "$FD" passwd >"$T/hash" 2>/dev/null
grep -q '^\$y\$' "$T/hash" && ok "passwd takes 11 characters of 13 bytes" || bad "passwd takes 11 characters of 13 bytes"
# check warns about the example's published password on this machine...
"$FD" check -c config.yaml.example >/dev/null 2>"$T/err"
grep -q "config.yaml.example:[0-9]*:[0-9]*: dashboard.agents\[0\].password_hash: the example password ('frontdesk')" "$T/err" &&
	ok "check warns about the example password" || { bad "check warns about the example password"; cat "$T/err"; }
# ...and refuses it on a dashboard other machines can reach, saying why.
mkdir -p "$T/pub"
cp -r rules replies "$T/pub/"
sed 's|^  listen: 127.0.0.1:8081|  listen: 0.0.0.0:8081|' config.yaml.example >"$T/pub/config.yaml"
expect_rc "check refuses the example password on a public dashboard" 2 "$FD" check -c "$T/pub/config.yaml"
grep -q "password_hash: this is the example password ('frontdesk') everyone can read, and the dashboard listens on 0.0.0.0:8081" "$T/err" &&
	ok "the refusal says why" || { bad "the refusal says why"; cat "$T/err"; }
expect_rc "run refuses it too" 2 "$FD" run -c "$T/pub/config.yaml"

echo "cli: $fails failed"
[ "$fails" -eq 0 ]
