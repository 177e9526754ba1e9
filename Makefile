# frontdesk - build, run, test, bench, fuzz, install.
#
#   make            build build/frontdesk
#   make run        install missing packages, build, start with config.yaml.example
#   make test       install missing packages, build, run every test
#   make bench      benchmarks (numbers go to BENCHMARKS.md by hand, with the command)
#   make eval       measure complaint detection on ../shared/data (skipped when absent)
#   make train-complaints  refit rules/lexicon/model.yaml on ../shared/data
#   make lint       clang-format check + cppcheck
#   make fuzz       run the libFuzzer targets for FUZZ_SECONDS each (needs clang;
#                   FUZZ_ONLY=name runs one)
#   make install    PREFIX=/usr/local DESTDIR=   (binary, rules, replies, docs, man pages, unit)
#   make uninstall  PREFIX=/usr/local DESTDIR=
#
# Variables: WERROR=1 adds -Werror; SAN=1 builds with ASan+UBSan into build-san/.

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
PKGS     := libwebsockets libuv libcurl jansson yaml-0.1 sqlite3 libpq libpcre2-8 libutf8proc libcrypt libcrypto

ifeq ($(SAN),1)
B        := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1
else
B        := build
SANFLAGS :=
OPT      := -O2
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl and libpq are opened at their first use (bot/curl_load.c,
# bot/store/pq_load.c, through bot/dynlib.c), not linked: their
# dependencies (Kerberos, LDAP, GnuTLS...) cost every process about 3 MB
# and 10 MB that most never use.  Their headers are still used.
DLOPENED   := libcurl libpq
PKG_LIBS   := $(shell pkg-config --libs $(filter-out $(DLOPENED),$(PKGS)) 2>/dev/null)
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif
CFLAGS   ?= $(OPT) -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) -Ibot -Ihandoff -I$(B)/gen $(PKG_CFLAGS) -MMD -MP
# liblinear and Snowball's libstemmer ship no pkg-config file.
LDLIBS   := $(PKG_LIBS) -llinear -lstemmer -lm
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS)

SRCS     := $(wildcard bot/*.c bot/store/*.c bot/connectors/*/*.c handoff/*.c)
MAIN     := bot/main.c
LIBSRCS  := $(filter-out $(MAIN),$(SRCS))
LIBOBJS  := $(LIBSRCS:%.c=$(B)/obj/%.o) $(B)/obj/gen/embedded.o
EMBED    := config.yaml.example $(sort $(wildcard handoff/web/* bot/web/*)) $(sort $(wildcard rules/lexicon/*))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
# Test support shared by the unit tests (tests/unit/*.c that are not test_*).
UNIT_SUPPORT := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_SUPPORT_OBJS := $(UNIT_SUPPORT:%.c=$(B)/obj/%.o)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)

all: $(B)/frontdesk

$(B)/frontdesk: $(B)/obj/$(MAIN:.c=.o) $(B)/libfrontdesk.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/libfrontdesk.a: $(LIBOBJS)
	rm -f $@
	ar rcs $@ $^

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Static files (dashboard, widget, the default config) are embedded at build.
$(B)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -o $@ $<

$(B)/gen/embedded.c: $(B)/tools/embed $(EMBED) Makefile
	@mkdir -p $(dir $@)
	$(B)/tools/embed $(EMBED) > $@.tmp && mv $@.tmp $@

$(B)/obj/gen/embedded.o: $(B)/gen/embedded.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(UNIT_SUPPORT_OBJS) $(B)/libfrontdesk.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Fuzz targets are also built with a plain driver that replays the kept
# corpus, so `make test` re-runs every saved input without clang.
$(B)/fuzz/%: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/replay.o $(B)/libfrontdesk.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# Developer tools that link the library (tools/*.c other than embed.c).
$(B)/tools/train-complaints: $(B)/obj/tools/train_complaints.o $(B)/libfrontdesk.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tools/eval-cluster: $(B)/obj/tools/eval_cluster.o $(B)/libfrontdesk.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench/%: $(B)/obj/tests/bench/%.o $(B)/libfrontdesk.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@tools/deps.sh

# Build and run one module's unit test alone (useful while other modules are
# mid-edit): make unit T=normalize
unit: $(B)/tests/test_$(T)
	$(B)/tests/test_$(T)

test: deps
	$(MAKE) --no-print-directory all-tests
	tests/run-all.sh $(B)

all-tests: $(B)/frontdesk $(UNIT_BINS) $(FUZZ_REPLAY)

run: deps
	$(MAKE) --no-print-directory $(B)/frontdesk
	@# Quiet unless it fails: the demo's cross-validation warnings are for rule writers.
	@$(B)/frontdesk check -c config.yaml.example >/dev/null 2>&1 || $(B)/frontdesk check -c config.yaml.example >/dev/null
	@echo
	@echo "  frontdesk is starting with config.yaml.example (the demo bakery)."
	@echo "  Web chat:   http://127.0.0.1:8080/   (a demo shop page with the chat widget)"
	@echo "  Dashboard:  http://127.0.0.1:8081/   (log in as sam, password frontdesk)"
	@echo "  Stop with Ctrl-C."
	@echo
	$(B)/frontdesk run -c config.yaml.example

BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
bench: deps
	$(MAKE) --no-print-directory $(B)/frontdesk $(BENCH_SRCS:tests/bench/%.c=$(B)/bench/%)
	tests/bench/run.sh $(B)

eval: $(B)/frontdesk $(B)/tools/eval-cluster
	tools/eval.sh $(B)/frontdesk

# Refit the complaint model (rules/lexicon/model.yaml) on the labelled posts
# in ../shared/data, read where they lie; skipped when they are absent.
TRAIN_DATA := ../shared/data/airline_dev.jsonl ../shared/data/complaints_dev.jsonl
train-complaints: $(B)/tools/train-complaints
	@if [ -f ../shared/data/airline_dev.jsonl ] && [ -f ../shared/data/complaints_dev.jsonl ]; then \
		$(B)/tools/train-complaints --cross -o rules/lexicon/model.yaml $(TRAIN_DATA); \
	else echo "train-complaints: skipped: ../shared/data not found"; fi

FUZZ_SECONDS ?= 60
fuzz:
	tools/fuzz.sh $(FUZZ_SECONDS)

# What tools/fuzz.sh compiles and links with clang: the library's sources
# and libraries exactly as the build has them, so a new library or source
# folder never leaves the fuzz targets unable to link.
fuzz-flags:
	@echo "SRCS=$(LIBSRCS)"
	@echo "CFLAGS=-std=c11 -D_GNU_SOURCE -Ibot -Ihandoff -Ibuild/gen $(PKG_CFLAGS)"
	@echo "LIBS=$(LDLIBS)"

lint:
	@# The store is the only place that knows its databases (bot/store/).
	@if grep -n 'sqlite3_\|sqlite3\.h\|libpq-fe\.h\|PGconn\|PGresult' $(filter-out bot/store/%,$(SRCS)) $(wildcard bot/*.h bot/connectors/*/*.h handoff/*.h); then \
		echo "lint: SQLite and libpq are used only inside bot/store/ (see bot/store.h)"; exit 1; fi
	clang-format --dry-run --Werror $(SRCS) $(wildcard bot/*.h bot/store/*.h bot/connectors/*/*.h handoff/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/bench/*.c)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -Ibot -Ihandoff $(SRCS)
	@! grep -nE 'strn(case)?cmp\([^;]*"127\.' $(SRCS) || \
		{ echo 'lint: loopback is an address check: url_host_is_loopback() (url.h), not a "127." prefix'; exit 1; }

# Installed layout (all under $(DESTDIR)$(PREFIX)):
#   bin/frontdesk
#   share/frontdesk/        rules/ (with lexicon/), replies/, config.yaml.example
#   share/doc/frontdesk/    README.md, docs/
#   share/man/man1/frontdesk.1, share/man/man5/frontdesk.yaml.5
#   lib/systemd/system/frontdesk.service
# The binary finds its default word lists in ../share/frontdesk from where it
# is installed, so PREFIX is not compiled in.
VERSION  := $(shell sed -n 's/^\#define FD_VERSION "\(.*\)"/\1/p' bot/util.h)
SHAREDIR := $(PREFIX)/share/frontdesk
DOCDIR   := $(PREFIX)/share/doc/frontdesk
MANDIR   := $(PREFIX)/share/man
UNITDIR  := $(PREFIX)/lib/systemd/system
SUBST    := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@VERSION@|$(VERSION)|g'

install: $(B)/frontdesk
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SHAREDIR)/rules/lexicon $(DESTDIR)$(SHAREDIR)/replies \
		$(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR)
	install -m 755 $(B)/frontdesk $(DESTDIR)$(PREFIX)/bin/frontdesk
	install -m 644 rules/*.yaml $(DESTDIR)$(SHAREDIR)/rules/
	install -m 644 $(wildcard rules/lexicon/*) $(DESTDIR)$(SHAREDIR)/rules/lexicon/
	install -m 644 replies/*.yaml $(DESTDIR)$(SHAREDIR)/replies/
	install -m 644 config.yaml.example $(DESTDIR)$(SHAREDIR)/config.yaml.example
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	$(SUBST) man/frontdesk.1 > $(DESTDIR)$(MANDIR)/man1/frontdesk.1
	$(SUBST) man/frontdesk.yaml.5 > $(DESTDIR)$(MANDIR)/man5/frontdesk.yaml.5
	$(SUBST) tools/frontdesk.service > $(DESTDIR)$(UNITDIR)/frontdesk.service
	@echo
	@echo "  Installed under $(DESTDIR)$(PREFIX).  Then, for the service:"
	@echo "    systemctl daemon-reload && systemctl enable --now frontdesk"
	@echo "  (after writing /etc/frontdesk/config.yaml: see man frontdesk)"

# Removes what `install` put there; /etc/frontdesk and the service's data
# (/var/lib/frontdesk) are left alone.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/frontdesk $(DESTDIR)$(UNITDIR)/frontdesk.service \
		$(DESTDIR)$(MANDIR)/man1/frontdesk.1 $(DESTDIR)$(MANDIR)/man5/frontdesk.yaml.5
	rm -rf $(DESTDIR)$(SHAREDIR) $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-san

.PHONY: all deps unit test all-tests run bench eval train-complaints fuzz fuzz-flags lint install uninstall clean
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
