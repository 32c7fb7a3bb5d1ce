# libeventlog build. Plain variables in LMDB's style; CC, CFLAGS, LDFLAGS and
# PREFIX/DESTDIR may be given from outside.
#
#   make               static + shared library, the evl tool, the examples
#   make test          the Criterion suite, then the same under ASan+UBSan
#   make test-asan     only the sanitizer run      make test-tsan  ThreadSanitizer
#   make demo          build and run the examples
#   make bench         benchmarks (see bench/README.md)
#   make install PREFIX=/usr/local DESTDIR=

SHELL := /bin/bash
PREFIX     ?= /usr/local
prefix      = $(PREFIX)
libdir      = $(prefix)/lib
includedir  = $(prefix)/include
bindir      = $(prefix)/bin
pkgconfigdir= $(libdir)/pkgconfig

CC        ?= cc
WERROR    ?= -Werror
OPT       ?= -O2 -g
CFLAGS    ?=
LDFLAGS   ?=
BASEFLAGS  = -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -Wstrict-prototypes \
             -Wno-unused-parameter -fvisibility=hidden -Iinclude -Ilib/core -Ilib/client
LIBS       = -llmdb -lxxhash -lpthread

MAJOR := $(shell sed -n 's/^\#define EVL_VERSION_MAJOR \([0-9]*\)/\1/p' include/eventlog.h)
MINOR := $(shell sed -n 's/^\#define EVL_VERSION_MINOR \([0-9]*\)/\1/p' include/eventlog.h)
PATCH := $(shell sed -n 's/^\#define EVL_VERSION_PATCH \([0-9]*\)/\1/p' include/eventlog.h)
VERSION := $(MAJOR).$(MINOR).$(PATCH)
SONAME   = libeventlog.so.$(MAJOR)

# The core (storage engine: lib/core) and the client layer (lib/client),
# one library; see the README's module map.
LIB_SRC   := $(sort $(wildcard lib/core/*.c lib/client/*.c))
TOOL_SRC  := $(sort $(wildcard tools/*.c))
EX_SRC    := $(sort $(wildcard examples/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
HDRS      := $(wildcard include/*.h include/eventlog/*.h lib/core/*.h lib/client/*.h)

B = build
# Connect (lib/connect): its own library on the core's public API.
CONNECT_SRC    := $(sort $(wildcard lib/connect/*.c))
CONNECT_LIBS   := -lrdkafka -lmosquitto -ljansson -lmicrohttpd
CONNECT_OBJ    := $(CONNECT_SRC:lib/%.c=$(B)/rel/%.o)
TCONNECT_OBJ   := $(CONNECT_SRC:lib/%.c=$(B)/test/%.o)
CONNECT_STATIC := $(B)/lib/libeventlog-connect.a
CONNECT_SHARED := $(B)/lib/libeventlog-connect.so.$(VERSION)
CONNECT_TEST_SRC := $(sort $(wildcard tests/connect/test_*.c))
CONNECT_TESTS  := $(CONNECT_TEST_SRC:tests/connect/%.c=$(B)/test/connect/%)
ACONNECT_OBJ   := $(CONNECT_SRC:lib/%.c=$(B)/asan/%.o)
ACONNECT_TESTS := $(CONNECT_TEST_SRC:tests/connect/%.c=$(B)/asan/connect/%)
SCONNECT_OBJ   := $(CONNECT_SRC:lib/%.c=$(B)/tsan/%.o)
# Schema registry (lib/registry): its own library on the core's public API.
REGISTRY_SRC    := $(sort $(wildcard lib/registry/*.c))
REGISTRY_LIBS   := -ljansson -lmicrohttpd -lm
REGISTRY_OBJ    := $(REGISTRY_SRC:lib/%.c=$(B)/rel/%.o)
TREGISTRY_OBJ   := $(REGISTRY_SRC:lib/%.c=$(B)/test/%.o)
AREGISTRY_OBJ   := $(REGISTRY_SRC:lib/%.c=$(B)/asan/%.o)
SREGISTRY_OBJ   := $(REGISTRY_SRC:lib/%.c=$(B)/tsan/%.o)
REGISTRY_STATIC := $(B)/lib/libeventlog-registry.a
REGISTRY_SHARED := $(B)/lib/libeventlog-registry.so.$(VERSION)
REGISTRY_TEST_SRC := $(sort $(wildcard tests/registry/test_*.c))
REGISTRY_TESTS  := $(REGISTRY_TEST_SRC:tests/registry/%.c=$(B)/test/registry/%)
AREGISTRY_TESTS := $(REGISTRY_TEST_SRC:tests/registry/%.c=$(B)/asan/registry/%)
HDRS      += $(wildcard lib/registry/*.h)
# Streams (lib/streams): its own library on the core's public API (and LMDB).
STREAMS_SRC     := $(sort $(wildcard lib/streams/*.c))
STREAMS_LIBS    := -ljansson
STREAMS_OBJ     := $(STREAMS_SRC:lib/%.c=$(B)/rel/%.o)
TSTREAMS_OBJ    := $(STREAMS_SRC:lib/%.c=$(B)/test/%.o)
ASTREAMS_OBJ    := $(STREAMS_SRC:lib/%.c=$(B)/asan/%.o)
SSTREAMS_OBJ    := $(STREAMS_SRC:lib/%.c=$(B)/tsan/%.o)
STREAMS_STATIC  := $(B)/lib/libeventlog-streams.a
STREAMS_SHARED  := $(B)/lib/libeventlog-streams.so.$(VERSION)
STREAMS_TEST_SRC := $(sort $(wildcard tests/streams/test_*.c))
STREAMS_TESTS   := $(STREAMS_TEST_SRC:tests/streams/%.c=$(B)/test/streams/%)
ASTREAMS_TESTS  := $(STREAMS_TEST_SRC:tests/streams/%.c=$(B)/asan/streams/%)
HDRS      += $(wildcard lib/streams/*.h)
LIB_OBJ   := $(LIB_SRC:lib/%.c=$(B)/rel/%.o)
TLIB_OBJ  := $(LIB_SRC:lib/%.c=$(B)/test/%.o)
ALIB_OBJ  := $(LIB_SRC:lib/%.c=$(B)/asan/%.o)
SLIB_OBJ  := $(LIB_SRC:lib/%.c=$(B)/tsan/%.o)
TESTS     := $(TEST_SRC:tests/%.c=$(B)/test/%)
ATESTS    := $(TEST_SRC:tests/%.c=$(B)/asan/%)
TSAN_SRC  := $(sort $(wildcard tests/tsan_*.c))
TSAN_TESTS:= $(TSAN_SRC:tests/%.c=$(B)/tsan/%)
EXAMPLES  := $(EX_SRC:examples/%.c=$(B)/examples/%)
SHARED    := $(B)/lib/libeventlog.so.$(VERSION)
STATIC    := $(B)/lib/libeventlog.a
EVL       := $(B)/evl

ASANFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSANFLAGS = -O1 -g -fsanitize=thread

.PHONY: all deps test test-unit test-asan test-tsan demo bench install uninstall clean \
        check-symbols check-layers check-install torture fuzz fuzz-smoke soak-connect test-build

all: deps $(SHARED) $(STATIC) $(EVL) $(EXAMPLES) $(CONNECT_STATIC) $(CONNECT_SHARED) \
     $(REGISTRY_STATIC) $(REGISTRY_SHARED) $(STREAMS_STATIC) $(STREAMS_SHARED)

# ---- dependencies: install them when root, else say what to run ----------
DEB_PKGS = liblmdb-dev libxxhash-dev libcriterion-dev pkg-config clang librdkafka-dev kcat libmosquitto-dev mosquitto mosquitto-clients libjansson-dev libmicrohttpd-dev curl openssl \
           python3-confluent-kafka python3-avro python3-jsonschema python3-protobuf python3-requests \
           protobuf-compiler libtest-json-schema-acceptance-perl
deps:
	@missing=""; \
	 [ -f /usr/include/lmdb.h ] || missing="$$missing liblmdb-dev"; \
	 [ -f /usr/include/xxhash.h ] || missing="$$missing libxxhash-dev"; \
	 [ -f /usr/include/criterion/criterion.h ] || missing="$$missing libcriterion-dev"; \
	 command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	 [ -f /usr/include/librdkafka/rdkafka.h ] || missing="$$missing librdkafka-dev"; \
	 command -v kcat >/dev/null || missing="$$missing kcat"; \
	 [ -f /usr/include/mosquitto.h ] || missing="$$missing libmosquitto-dev"; \
	 [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	 command -v mosquitto_pub >/dev/null || missing="$$missing mosquitto-clients"; \
	 [ -f /usr/include/jansson.h ] || missing="$$missing libjansson-dev"; \
	 [ -f /usr/include/microhttpd.h ] || missing="$$missing libmicrohttpd-dev"; \
	 command -v curl >/dev/null || missing="$$missing curl"; \
	 command -v openssl >/dev/null || missing="$$missing openssl"; \
	 for p in python3-confluent-kafka python3-avro python3-jsonschema python3-protobuf python3-requests \
	          protobuf-compiler libtest-json-schema-acceptance-perl; do \
	   dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	 done; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     echo "installing:$$missing"; \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || exit 1; \
	   else \
	     echo "missing packages:$$missing"; \
	     echo "run: sudo apt-get install -y$$missing"; exit 1; \
	   fi; \
	 fi

# ---- library -----------------------------------------------------------
$(B)/rel/%.o: lib/%.c $(HDRS) | deps
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -fPIC $(CFLAGS) -c $< -o $@

$(SHARED): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -o $@ $^ $(LIBS)
	ln -sf libeventlog.so.$(VERSION) $(B)/lib/$(SONAME)
	ln -sf $(SONAME) $(B)/lib/libeventlog.so

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@; ar rcs $@ $^

$(CONNECT_STATIC): $(CONNECT_OBJ)
	@mkdir -p $(@D)
	rm -f $@; ar rcs $@ $^

$(CONNECT_SHARED): $(CONNECT_OBJ) $(SHARED)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libeventlog-connect.so.$(MAJOR) $(LDFLAGS) -o $@ $(CONNECT_OBJ) \
	  -L$(B)/lib -leventlog $(CONNECT_LIBS) $(LIBS)
	ln -sf libeventlog-connect.so.$(VERSION) $(B)/lib/libeventlog-connect.so.$(MAJOR)
	ln -sf libeventlog-connect.so.$(MAJOR) $(B)/lib/libeventlog-connect.so

$(REGISTRY_STATIC): $(REGISTRY_OBJ)
	@mkdir -p $(@D)
	rm -f $@; ar rcs $@ $^

$(REGISTRY_SHARED): $(REGISTRY_OBJ) $(SHARED)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libeventlog-registry.so.$(MAJOR) $(LDFLAGS) -o $@ $(REGISTRY_OBJ) \
	  -L$(B)/lib -leventlog $(REGISTRY_LIBS) $(LIBS)
	ln -sf libeventlog-registry.so.$(VERSION) $(B)/lib/libeventlog-registry.so.$(MAJOR)
	ln -sf libeventlog-registry.so.$(MAJOR) $(B)/lib/libeventlog-registry.so

$(STREAMS_STATIC): $(STREAMS_OBJ)
	@mkdir -p $(@D)
	rm -f $@; ar rcs $@ $^

$(STREAMS_SHARED): $(STREAMS_OBJ) $(SHARED)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libeventlog-streams.so.$(MAJOR) $(LDFLAGS) -o $@ $(STREAMS_OBJ) \
	  -L$(B)/lib -leventlog $(STREAMS_LIBS) $(LIBS)
	ln -sf libeventlog-streams.so.$(VERSION) $(B)/lib/libeventlog-streams.so.$(MAJOR)
	ln -sf libeventlog-streams.so.$(MAJOR) $(B)/lib/libeventlog-streams.so

# ---- tool and examples (public API only, static link) ---------------------
$(EVL): $(TOOL_SRC) $(wildcard tools/*.h) $(STATIC) $(CONNECT_STATIC) $(REGISTRY_STATIC) include/eventlog.h
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) $(CFLAGS) -o $@ $(TOOL_SRC) $(CONNECT_STATIC) $(REGISTRY_STATIC) $(STATIC) $(LDFLAGS) $(CONNECT_LIBS) $(REGISTRY_LIBS) $(LIBS)

$(B)/examples/%: examples/%.c $(STATIC) include/eventlog.h
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LIBS)

# Examples of the connect area link its library too.
$(B)/examples/connect_%: examples/connect_%.c $(CONNECT_STATIC) $(STATIC) include/eventlog/connect.h
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) $(CFLAGS) -o $@ $< $(CONNECT_STATIC) $(STATIC) $(LDFLAGS) \
	  $(CONNECT_LIBS) $(LIBS)

# Examples of the registry area link its library too.
$(B)/examples/registry_%: examples/registry_%.c $(REGISTRY_STATIC) $(STATIC) include/eventlog/registry.h
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) $(CFLAGS) -o $@ $< $(REGISTRY_STATIC) $(STATIC) $(LDFLAGS) \
	  $(REGISTRY_LIBS) $(LIBS)

# The streams examples link its library too.
STREAMS_EXAMPLES := wordcount sensor_windows enrich_join
$(STREAMS_EXAMPLES:%=$(B)/examples/%): $(B)/examples/%: examples/%.c $(STREAMS_STATIC) $(STATIC) include/eventlog/streams.h
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) $(CFLAGS) -o $@ $< $(STREAMS_STATIC) $(STATIC) $(LDFLAGS) $(STREAMS_LIBS) $(LIBS)

# ---- tests ----------------------------------------------------------------
# Tests link a library built with -DEVL_TESTING (fault-injection seams).
$(B)/test/%.o: lib/%.c $(HDRS) | deps
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -DEVL_TESTING $(CFLAGS) -c $< -o $@
$(B)/test/libevl_test.a: $(TLIB_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/test/libevl_connect_test.a: $(TCONNECT_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/test/libevl_registry_test.a: $(TREGISTRY_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/test/registry/test_%: tests/registry/test_%.c tests/helpers.h $(wildcard tests/registry/*.h) $(B)/test/libevl_registry_test.a $(B)/test/libevl_test.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -DEVL_TESTING -Itests -Itests/registry -Ilib/registry $(CFLAGS) -o $@ $< $(B)/test/libevl_registry_test.a $(B)/test/libevl_test.a $(LDFLAGS) -lcriterion $(REGISTRY_LIBS) $(LIBS)
$(B)/test/libevl_streams_test.a: $(TSTREAMS_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/test/streams/test_%: tests/streams/test_%.c tests/helpers.h $(wildcard tests/streams/*.h) $(B)/test/libevl_streams_test.a $(B)/test/libevl_registry_test.a $(B)/test/libevl_test.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -DEVL_TESTING -Itests -Itests/streams -Ilib/streams $(CFLAGS) -o $@ $< $(B)/test/libevl_streams_test.a $(B)/test/libevl_registry_test.a $(B)/test/libevl_test.a $(LDFLAGS) -lcriterion $(STREAMS_LIBS) $(REGISTRY_LIBS) $(LIBS)
$(B)/test/connect/test_%: tests/connect/test_%.c tests/helpers.h tests/connect/connect_helpers.h tests/connect/mqtt_broker.h $(B)/test/libevl_connect_test.a $(B)/test/libevl_test.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(OPT) -DEVL_TESTING -Itests -Itests/connect $(CFLAGS) -o $@ $< $(B)/test/libevl_connect_test.a $(B)/test/libevl_test.a $(LDFLAGS) -lcriterion $(CONNECT_LIBS) $(LIBS)
$(B)/test/test_%: tests/test_%.c tests/helpers.h $(wildcard tests/cli/*.h tests/*.h) $(B)/test/libevl_test.a
	$(CC) $(BASEFLAGS) $(OPT) -DEVL_TESTING -Itests $(CFLAGS) -o $@ $< $(B)/test/libevl_test.a $(LDFLAGS) -lcriterion $(LIBS)

$(B)/asan/%.o: lib/%.c $(HDRS) | deps
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(ASANFLAGS) -DEVL_TESTING $(CFLAGS) -c $< -o $@
$(B)/asan/libevl_test.a: $(ALIB_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/asan/libevl_connect_test.a: $(ACONNECT_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/asan/libevl_registry_test.a: $(AREGISTRY_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/asan/registry/test_%: tests/registry/test_%.c tests/helpers.h $(wildcard tests/registry/*.h) $(B)/asan/libevl_registry_test.a $(B)/asan/libevl_test.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(ASANFLAGS) -DEVL_TESTING -Itests -Itests/registry -Ilib/registry $(CFLAGS) -o $@ $< $(B)/asan/libevl_registry_test.a $(B)/asan/libevl_test.a $(LDFLAGS) -lcriterion $(REGISTRY_LIBS) $(LIBS)
$(B)/asan/libevl_streams_test.a: $(ASTREAMS_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/asan/streams/test_%: tests/streams/test_%.c tests/helpers.h $(wildcard tests/streams/*.h) $(B)/asan/libevl_streams_test.a $(B)/asan/libevl_registry_test.a $(B)/asan/libevl_test.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(ASANFLAGS) -DEVL_TESTING -Itests -Itests/streams -Ilib/streams $(CFLAGS) -o $@ $< $(B)/asan/libevl_streams_test.a $(B)/asan/libevl_registry_test.a $(B)/asan/libevl_test.a $(LDFLAGS) -lcriterion $(STREAMS_LIBS) $(REGISTRY_LIBS) $(LIBS)
$(B)/asan/connect/test_%: tests/connect/test_%.c tests/helpers.h tests/connect/connect_helpers.h tests/connect/mqtt_broker.h $(B)/asan/libevl_connect_test.a $(B)/asan/libevl_test.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(ASANFLAGS) -DEVL_TESTING -Itests -Itests/connect $(CFLAGS) -o $@ $< $(B)/asan/libevl_connect_test.a $(B)/asan/libevl_test.a $(LDFLAGS) -lcriterion $(CONNECT_LIBS) $(LIBS)
$(B)/asan/test_%: tests/test_%.c tests/helpers.h $(wildcard tests/cli/*.h tests/*.h) $(B)/asan/libevl_test.a
	$(CC) $(BASEFLAGS) $(ASANFLAGS) -DEVL_TESTING -Itests $(CFLAGS) -o $@ $< $(B)/asan/libevl_test.a $(LDFLAGS) -lcriterion $(LIBS)

$(B)/tsan/%.o: lib/%.c $(HDRS) | deps
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(TSANFLAGS) -DEVL_TESTING $(CFLAGS) -c $< -o $@
$(B)/tsan/libevl_test.a: $(SLIB_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/tsan/libevl_connect_test.a: $(SCONNECT_OBJ)
	rm -f $@; ar rcs $@ $^
# TSan programs are plain executables: Criterion cannot run under TSan.
$(B)/tsan/libevl_registry_test.a: $(SREGISTRY_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/tsan/libevl_streams_test.a: $(SSTREAMS_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/tsan/tsan_%: tests/tsan_%.c $(B)/tsan/libevl_test.a $(B)/tsan/libevl_connect_test.a $(B)/tsan/libevl_registry_test.a $(B)/tsan/libevl_streams_test.a
	$(CC) $(BASEFLAGS) $(TSANFLAGS) -DEVL_TESTING -Itests $(CFLAGS) -o $@ $< $(B)/tsan/libevl_connect_test.a $(B)/tsan/libevl_registry_test.a $(B)/tsan/libevl_streams_test.a $(B)/tsan/libevl_test.a $(LDFLAGS) $(CONNECT_LIBS) $(REGISTRY_LIBS) $(LIBS)

# Each binary runs its tests in parallel on 2 workers; EVL_TEST_QUICK trims loops.
CRITERION_FLAGS ?= --jobs 2
test-unit: all $(TESTS) $(CONNECT_TESTS) $(REGISTRY_TESTS) $(STREAMS_TESTS) check-symbols check-layers check-install
	@set -e; for t in $(TESTS) $(CONNECT_TESTS) $(REGISTRY_TESTS) $(STREAMS_TESTS); do echo "== $$t"; EVL_EVL=$(CURDIR)/$(EVL) $$t $(CRITERION_FLAGS); done

# Criterion exits 0 even when LeakSanitizer reports at a test's exit, so the
# output is checked for reports too.
test-asan: all $(ATESTS) $(ACONNECT_TESTS) $(AREGISTRY_TESTS) $(ASTREAMS_TESTS)
	@set -e; for t in $(ATESTS) $(ACONNECT_TESTS) $(AREGISTRY_TESTS) $(ASTREAMS_TESTS); do echo "== $$t"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  EVL_EVL=$(CURDIR)/$(EVL) EVL_TEST_QUICK=1 $$t $(CRITERION_FLAGS) 2>&1 | tee $(B)/asan/last.log; \
	  test $${PIPESTATUS[0]} -eq 0; \
	  if grep -qE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" $(B)/asan/last.log; then \
	    echo "sanitizer report in $$t"; exit 1; fi; done

test-tsan: all $(TSAN_TESTS)
	@set -e; for t in $(TSAN_TESTS); do echo "== $$t"; \
	  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 EVL_TEST_QUICK=1 $$t; done

# Every test program built first, two at a time (the suites then run one
# after the other: their timings stay their own).
test-build: all
	@$(MAKE) -s -j2 $(TESTS) $(CONNECT_TESTS) $(REGISTRY_TESTS) $(STREAMS_TESTS) $(ATESTS) $(ACONNECT_TESTS) $(AREGISTRY_TESTS) $(ASTREAMS_TESTS) $(TSAN_TESTS)
	@$(MAKE) -s -j2 -C tests/fuzz all

test: test-build
	@$(MAKE) test-unit test-asan test-tsan fuzz-smoke
	@echo "all test suites passed"

# Only evl_* symbols may leave the shared library.
check-symbols: $(SHARED)
	@bad=$$(nm -D --defined-only $(SHARED) | awk '{print $$3}' | grep -v '^evl_' | grep -v '^_' || true); \
	 if [ -n "$$bad" ]; then echo "non-evl symbols exported:"; echo "$$bad"; exit 1; fi; \
	 echo "check-symbols: only evl_* exported"

# Dependencies point down: no object of the core (lib/core) may use a symbol
# that the client layer (lib/client) defines, and the partition module uses
# nothing of the log, budget and topic modules above it (it is given what it
# needs when opened: partition.h, evl_part_env_t).
CORE_OBJ   = $(filter $(B)/rel/core/%,$(LIB_OBJ))
CLIENT_OBJ = $(filter $(B)/rel/client/%,$(LIB_OBJ))
PART_OBJ   = $(addprefix $(B)/rel/core/,partition.o segcache.o append.o prefault.o commit.o \
               retention.o recovery.o)
ABOVE_OBJ  = $(addprefix $(B)/rel/core/,log.o budget.o topic.o topic_rec.o topic_cache.o \
               topic_recover.o)
uses = comm -12 <(nm -u $(1) | awk 'NF==2 {print $$2}' | sort -u) \
                <(nm --defined-only $(2) | awk '$$2 ~ /[TDBR]/ {print $$3}' | sort -u)
check-layers: $(LIB_OBJ)
	@up=$$($(call uses,$(CORE_OBJ),$(CLIENT_OBJ))); \
	 if [ -n "$$up" ]; then echo "lib/core uses lib/client:"; echo "$$up"; exit 1; fi; \
	 up=$$($(call uses,$(PART_OBJ),$(ABOVE_OBJ))); \
	 if [ -n "$$up" ]; then echo "the partition module calls up:"; echo "$$up"; exit 1; fi; \
	 echo "check-layers: lib/core uses nothing of lib/client, the partition nothing above it"

# make install into build/inst, then build a program against it through
# pkg-config only, shared and static, and run both.
check-install: all
	@rm -rf $(B)/inst $(B)/inst-data
	@$(MAKE) -s install PREFIX=$(CURDIR)/$(B)/inst >/dev/null
	@PKG_CONFIG_PATH=$(B)/inst/lib/pkgconfig; export PKG_CONFIG_PATH; \
	 $(CC) tests/install_check.c $$(pkg-config --cflags --libs eventlog) -o $(B)/inst/check-shared && \
	 $(CC) tests/install_check.c $$(pkg-config --cflags eventlog) $(B)/inst/lib/libeventlog.a \
	   $$(pkg-config --static --libs-only-l eventlog | sed 's/-leventlog//') -o $(B)/inst/check-static && \
	 LD_LIBRARY_PATH=$(B)/inst/lib $(B)/inst/check-shared $(B)/inst-data/a && \
	 $(B)/inst/check-static $(B)/inst-data/b && \
	 $(CC) tests/install_check_connect.c $$(pkg-config --cflags --libs eventlog-connect) \
	   -o $(B)/inst/check-connect && LD_LIBRARY_PATH=$(B)/inst/lib $(B)/inst/check-connect && \
	 $(CC) tests/install_check_registry.c $$(pkg-config --cflags --libs eventlog-registry) \
	   -o $(B)/inst/check-registry && LD_LIBRARY_PATH=$(B)/inst/lib $(B)/inst/check-registry $(B)/inst-data/c && \
	 $(CC) tests/install_check_streams.c $$(pkg-config --cflags --libs eventlog-streams) \
	   -o $(B)/inst/check-streams && LD_LIBRARY_PATH=$(B)/inst/lib $(B)/inst/check-streams $(B)/inst-data/d && \
	 $(CC) tests/install_check_streams.c $$(pkg-config --cflags eventlog-streams) \
	   $(B)/inst/lib/libeventlog-streams.a $(B)/inst/lib/libeventlog.a \
	   $$(pkg-config --static --libs-only-l eventlog-streams | sed 's/-leventlog-streams//; s/-leventlog//') \
	   -o $(B)/inst/check-streams-static && $(B)/inst/check-streams-static $(B)/inst-data/e
	@rm -rf $(B)/inst-data

# ---- demo -----------------------------------------------------------------
demo: all
	@sh examples/run-demo.sh $(B)/examples

# ---- benchmarks --------------------------------------------------------------
bench: all
	@$(MAKE) -s -C bench run

# ---- longer reliability runs (tests/README.md) ----------------------------------
torture: all $(TESTS)
	EVL_TORTURE=1 $(B)/test/test_crash $(CRITERION_FLAGS)
	EVL_TORTURE=1 $(B)/test/test_powerloss $(CRITERION_FLAGS)
	EVL_TORTURE=1 $(B)/test/test_hostile $(CRITERION_FLAGS)

# Store and forward for 10 minutes: outages, kills, a disk budget (tests/README.md).
SOAK_SECONDS ?= 600
soak-connect: all
	@mkdir -p $(B)/soak
	$(CC) $(BASEFLAGS) $(OPT) $(CFLAGS) -o $(B)/soak/soak_connect tests/connect/soak_connect.c \
	  $(CONNECT_STATIC) $(STATIC) $(LDFLAGS) $(CONNECT_LIBS) $(LIBS)
	SOAK_SECONDS=$(SOAK_SECONDS) $(B)/soak/soak_connect

FUZZ_SECONDS ?= 600
fuzz: deps
	$(MAKE) -C tests/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

# Each fuzz target for a few seconds on its committed corpus.
fuzz-smoke: deps
	@$(MAKE) -s -C tests/fuzz smoke SMOKE_SECONDS=$(or $(SMOKE_SECONDS),4)

# ---- install -------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(libdir) $(DESTDIR)$(includedir) $(DESTDIR)$(bindir) $(DESTDIR)$(pkgconfigdir)
	install -m 644 include/eventlog.h $(DESTDIR)$(includedir)/
	if [ -d include/eventlog ]; then install -d $(DESTDIR)$(includedir)/eventlog && \
	   install -m 644 include/eventlog/*.h $(DESTDIR)$(includedir)/eventlog/; fi
	install -m 755 $(SHARED) $(DESTDIR)$(libdir)/
	ln -sf libeventlog.so.$(VERSION) $(DESTDIR)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(libdir)/libeventlog.so
	install -m 644 $(STATIC) $(DESTDIR)$(libdir)/
	install -m 755 $(EVL) $(DESTDIR)$(bindir)/
	sed -e 's|@PREFIX@|$(prefix)|' -e 's|@LIBDIR@|$(libdir)|' -e 's|@INCLUDEDIR@|$(includedir)|' \
	    -e 's|@VERSION@|$(VERSION)|' pkgconfig/eventlog.pc.in > $(DESTDIR)$(pkgconfigdir)/eventlog.pc
	install -m 755 $(CONNECT_SHARED) $(DESTDIR)$(libdir)/
	ln -sf libeventlog-connect.so.$(VERSION) $(DESTDIR)$(libdir)/libeventlog-connect.so.$(MAJOR)
	ln -sf libeventlog-connect.so.$(MAJOR) $(DESTDIR)$(libdir)/libeventlog-connect.so
	install -m 644 $(CONNECT_STATIC) $(DESTDIR)$(libdir)/
	sed -e 's|@PREFIX@|$(prefix)|' -e 's|@LIBDIR@|$(libdir)|' -e 's|@INCLUDEDIR@|$(includedir)|' \
	    -e 's|@VERSION@|$(VERSION)|' pkgconfig/eventlog-connect.pc.in > $(DESTDIR)$(pkgconfigdir)/eventlog-connect.pc
	install -m 755 $(REGISTRY_SHARED) $(DESTDIR)$(libdir)/
	ln -sf libeventlog-registry.so.$(VERSION) $(DESTDIR)$(libdir)/libeventlog-registry.so.$(MAJOR)
	ln -sf libeventlog-registry.so.$(MAJOR) $(DESTDIR)$(libdir)/libeventlog-registry.so
	install -m 644 $(REGISTRY_STATIC) $(DESTDIR)$(libdir)/
	sed -e 's|@PREFIX@|$(prefix)|' -e 's|@LIBDIR@|$(libdir)|' -e 's|@INCLUDEDIR@|$(includedir)|' \
	    -e 's|@VERSION@|$(VERSION)|' pkgconfig/eventlog-registry.pc.in > $(DESTDIR)$(pkgconfigdir)/eventlog-registry.pc
	install -m 755 $(STREAMS_SHARED) $(DESTDIR)$(libdir)/
	ln -sf libeventlog-streams.so.$(VERSION) $(DESTDIR)$(libdir)/libeventlog-streams.so.$(MAJOR)
	ln -sf libeventlog-streams.so.$(MAJOR) $(DESTDIR)$(libdir)/libeventlog-streams.so
	install -m 644 $(STREAMS_STATIC) $(DESTDIR)$(libdir)/
	sed -e 's|@PREFIX@|$(prefix)|' -e 's|@LIBDIR@|$(libdir)|' -e 's|@INCLUDEDIR@|$(includedir)|' \
	    -e 's|@VERSION@|$(VERSION)|' pkgconfig/eventlog-streams.pc.in > $(DESTDIR)$(pkgconfigdir)/eventlog-streams.pc

uninstall:
	rm -f $(DESTDIR)$(includedir)/eventlog.h $(DESTDIR)$(libdir)/libeventlog.* \
	      $(DESTDIR)$(libdir)/libeventlog-connect.* $(DESTDIR)$(pkgconfigdir)/eventlog-connect.pc \
	      $(DESTDIR)$(libdir)/libeventlog-registry.* $(DESTDIR)$(pkgconfigdir)/eventlog-registry.pc \
	      $(DESTDIR)$(libdir)/libeventlog-streams.* $(DESTDIR)$(pkgconfigdir)/eventlog-streams.pc \
	      $(DESTDIR)$(bindir)/evl $(DESTDIR)$(pkgconfigdir)/eventlog.pc

clean:
	rm -rf $(B)
	-$(MAKE) -s -C bench clean 2>/dev/null || true
