# ngx_http_oauth_module — see README.md.
#
#   make            the module (build/ngx_http_oauth_module.so) and build/oauth-client-entry
#   make demo       run nginx.conf.example in the foreground on 127.0.0.1:8080
#   make test       cmocka unit tests of the core, then the t/*.t integration tests
#   NGINX_SRC=/path/to/nginx make    build against another nginx source tree

SHELL      := /bin/bash
BUILD      := build
NGINX_SRC  ?=
NGINX_BIN  ?= /usr/sbin/nginx
NGX_CC_OPT ?= -O2 -g
NGX_LD_OPT ?=
CXX        ?= g++
CXXFLAGS   ?= -O2 -g
CORE_FLAGS := -std=c++17 -Wall -Wextra -Werror -fPIC -Isrc
LDLIBS     := -lcrypto -ljansson

# Every depth, as config finds them.
CORE_SRCS  := $(shell find src/core -name '*.cpp' | LC_ALL=C sort)
CORE_HDRS  := $(shell find src/core -name '*.hpp' | LC_ALL=C sort)
CORE_OBJS  := $(CORE_SRCS:src/core/%.cpp=$(BUILD)/core/%.o)
GLUE_FILES := $(wildcard src/ngx/*.cpp src/ngx/*.hpp)
UNIT_SRCS  := $(shell find test/unit -name 'test_*.cpp' | LC_ALL=C sort)
UNIT_BINS  := $(UNIT_SRCS:test/unit/%.cpp=$(BUILD)/unit/%)
MODULE     := $(BUILD)/ngx_http_oauth_module.so
CLI        := $(BUILD)/oauth-client-entry

BUILD_PKGS := nginx nginx-dev libssl-dev libjansson-dev libhiredis-dev libcurl4-openssl-dev g++ make
# python3-jwt: PyJWT makes the JOSE fixtures (test/unit/jose_fixtures.py) and
# checks our tokens against our JWKS (t/5*-jwt-*.t).
TEST_PKGS  := libcmocka-dev perl gdb python3-jwt python3-cryptography redis-server

ifeq ($(NGINX_SRC),)
NGX_TREE   := $(BUILD)/nginx-src
else
NGX_TREE   := $(NGINX_SRC)
endif

.PHONY: all demo test test-binaries unit integration format clean FORCE
all: $(MODULE) $(CLI)

$(BUILD)/.packages-build:
	scripts/need-packages $(BUILD_PKGS)
	@mkdir -p $(@D) && touch $@

$(BUILD)/.packages-test:
	scripts/need-packages $(TEST_PKGS)
	@mkdir -p $(@D) && touch $@

# Client libraries of the interop tests (t/31-*, t/32-*): Debian's Authlib
# (it needs requests, which it only suggests) and, from package-lock.json,
# openid-client with the resource server's oauth4webapi and jose, and oidc-provider
# (t/90, a real issuer whose keys are fetched from a URL). NodeSource's
# nodejs ships npm and conflicts with Debian's npm package, so npm is asked for
# only when there is no npm command.
$(BUILD)/.packages-interop: package.json package-lock.json
	scripts/need-packages python3-authlib python3-requests nodejs $$(command -v npm >/dev/null || echo npm)
	npm ci --no-audit --no-fund
	@mkdir -p $(@D) && touch $@

# promtool and a real Prometheus for t/50-metrics.t. (Debian enables the
# package's prometheus.service; a test never talks to it.)
$(BUILD)/.packages-metrics:
	scripts/need-packages prometheus
	@mkdir -p $(@D) && touch $@

# A real Redis for the fleet tests (t/80-fleet*.t, t/lib/OAuthFleet.pm), which
# start their own redis-server on a free loopback port and drive it with
# redis-cli. (Debian enables the package's redis-server.service; a test never
# talks to it.)
$(BUILD)/.packages-fleet:
	scripts/need-packages redis-server redis-tools
	@mkdir -p $(@D) && touch $@

# nginx's configure bakes the module's file list into objs/Makefile, so it
# reruns whenever a source file is added or removed. The module links the core's
# objects that the CLI and the unit tests link (config reads OAUTH_CORE_OBJS): the
# core is compiled once per build, with CXXFLAGS; nginx compiles only the glue.
NGX_CONFIGURE_ENV = OAUTH_CORE_OBJS="$(abspath $(CORE_OBJS))"
$(BUILD)/sources.list: FORCE
	@mkdir -p $(@D)
	@echo $(CORE_SRCS) $(CORE_HDRS) $(GLUE_FILES) > $@.new
	@cmp -s $@.new $@ && rm $@.new || mv $@.new $@

$(NGX_TREE)/objs/Makefile: config $(BUILD)/sources.list | $(BUILD)/.packages-build
ifeq ($(NGINX_SRC),)
	rm -rf $(NGX_TREE) && cp -a /usr/share/nginx/src $(NGX_TREE)
	cd $(NGX_TREE) && . ./conf_flags && $(NGX_CONFIGURE_ENV) ./configure "$${NGX_CONF_FLAGS[@]}" \
		--with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" --add-dynamic-module=$(CURDIR) > configure.log
else
	cd $(NGX_TREE) && $(NGX_CONFIGURE_ENV) $$(test -x configure && echo ./configure || echo auto/configure) \
		--with-compat --with-cc-opt="$(NGX_CC_OPT)" --add-dynamic-module=$(CURDIR) > configure.log
endif

$(MODULE): $(NGX_TREE)/objs/Makefile $(CORE_OBJS) $(CORE_HDRS) $(GLUE_FILES)
	@# objs/Makefile does not know the core's objects: relink whatever changed
	rm -f $(NGX_TREE)/objs/ngx_http_oauth_module.so
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile modules
	@# a new file, not a rewrite: a running nginx keeps the old one mapped
	cp $(NGX_TREE)/objs/ngx_http_oauth_module.so $@.new && mv $@.new $@

$(BUILD)/core/%.o: src/core/%.cpp $(CORE_HDRS) | $(BUILD)/.packages-build
	@mkdir -p $(@D)
	$(CXX) $(CORE_FLAGS) $(CXXFLAGS) -c -o $@ $<

$(CLI): src/cli/oauth_client_entry.cpp $(CORE_OBJS)
	$(CXX) $(CORE_FLAGS) $(CXXFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit/%: test/unit/%.cpp test/unit/*.hpp $(CORE_OBJS) | $(BUILD)/.packages-test
	@mkdir -p $(@D)
	$(CXX) $(CORE_FLAGS) -Itest/unit $(CXXFLAGS) -o $@ $< $(CORE_OBJS) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# What the suites run, built in one pass so that `make -jN` keeps every core busy
# (CI's .ci/run builds so); the suites themselves then run one after the other.
test-binaries: all $(UNIT_BINS)

integration: all $(BUILD)/.packages-interop | $(BUILD)/.packages-test $(BUILD)/.packages-metrics \
		$(BUILD)/.packages-fleet
	OAUTH_MODULE=$(abspath $(MODULE)) OAUTH_CLIENT_ENTRY=$(abspath $(CLI)) NGINX_BIN=$(NGINX_BIN) \
		prove --timer -r t/

# Not `test: unit integration`: under -jN those two would run at once, and the
# timing-sensitive t/ files share the cores with the unit tests.
test: test-binaries
	$(MAKE) unit
	$(MAKE) integration

demo: all
	scripts/demo $(abspath $(MODULE)) $(NGINX_BIN)

format:
	find src test/unit fuzz -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD)

# ---- hardening: fuzzing, sanitizers, valgrind ----------------------------------
# Not part of `make test`: each takes minutes.
#
#   make fuzz         build the libFuzzer targets in fuzz/ and run each for
#                     FUZZ_SECONDS (default 60), with fuzz/TARGET.dict if there is
#                     one, from a copy of fuzz/corpus/ in build/fuzz/corpus/;
#                     crashes land in build/fuzz/crashes/
#   make sanitize     the unit tests, then the integration tests with the module
#                     built with ASan + UBSan (in build/sanitize/) loaded into the
#                     stock nginx; any sanitizer report fails the test file
#   make valgrind     the integration tests with nginx and its workers under memcheck

FUZZ_SECONDS   ?= 60
FUZZ_CXX       := clang++-14
FUZZ_PKGS      := clang-14 libclang-rt-14-dev
FUZZ_DIR       := $(BUILD)/fuzz
FUZZ_FLAGS     := -std=c++17 -Wall -Wextra -Werror -Isrc -O1 -g -fno-omit-frame-pointer
FUZZ_TARGETS   := $(basename $(notdir $(wildcard fuzz/*.cpp)))
FUZZ_BINS      := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
FUZZ_OBJS      := $(CORE_SRCS:src/core/%.cpp=$(FUZZ_DIR)/core/%.o)

SAN_BUILD      := $(BUILD)/sanitize
SAN_FLAGS      := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                  -fno-omit-frame-pointer
# The runtimes the stock nginx binary gets through LD_PRELOAD (see t/lib/OAuthTest.pm).
SAN_PRELOAD     = $(realpath $(shell $(CXX) -print-file-name=libasan.so) \
                             $(shell $(CXX) -print-file-name=libubsan.so))
SAN_ENV        := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 \
                  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

VALGRIND_PKGS  := valgrind

.PHONY: fuzz sanitize valgrind

$(BUILD)/.packages-fuzz:
	scripts/need-packages $(FUZZ_PKGS)
	@mkdir -p $(@D) && touch $@

$(BUILD)/.packages-valgrind:
	scripts/need-packages $(VALGRIND_PKGS)
	@mkdir -p $(@D) && touch $@

$(FUZZ_DIR)/core/%.o: src/core/%.cpp $(CORE_HDRS) | $(BUILD)/.packages-build $(BUILD)/.packages-fuzz
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BINS): $(FUZZ_DIR)/%: fuzz/%.cpp fuzz/fuzz.hpp $(FUZZ_OBJS)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

# New inputs go to the copy, so the committed seeds stay small; a crash stops
# nothing until every target had its run.
fuzz: $(FUZZ_BINS)
	@failed=""; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/crashes; \
	    cp -n fuzz/corpus/$$t/* $(FUZZ_DIR)/corpus/$$t/; \
	    echo "== fuzz $$t, $(FUZZ_SECONDS) s"; \
	    dict=$$(test -f fuzz/$$t.dict && echo -dict=fuzz/$$t.dict); \
	    if $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 $$dict \
	        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crashes/$$t- \
	        $(FUZZ_DIR)/corpus/$$t > $(FUZZ_DIR)/$$t.log 2>&1; then \
	        grep -h -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' $(FUZZ_DIR)/$$t.log; \
	        echo "corpus: $$(ls $(FUZZ_DIR)/corpus/$$t | wc -l) inputs"; \
	    else \
	        tail -n 40 $(FUZZ_DIR)/$$t.log; failed="$$failed $$t"; \
	    fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in$$failed (see $(FUZZ_DIR)/crashes/)"; exit 1; fi

# The whole build again in $(SAN_BUILD), from its own copy of Debian's nginx tree.
SAN_MAKE        = $(MAKE) BUILD=$(SAN_BUILD) NGINX_SRC= CXXFLAGS="$(SAN_FLAGS)" NGX_CC_OPT="$(SAN_FLAGS)"

sanitize:
	$(SAN_MAKE) test-binaries
	$(SAN_ENV) $(SAN_MAKE) unit
	OAUTH_SANITIZE="$(SAN_PRELOAD)" $(SAN_ENV) $(SAN_MAKE) integration

valgrind: | $(BUILD)/.packages-valgrind
	OAUTH_VALGRIND=1 $(MAKE) integration

# ---- benchmarks ------------------------------------------------------------------
#   make bench          throughput figures, each a ratio of two variants measured in
#                       turn in one run (see bench/README.md): prints a table and
#                       writes build/bench.json; about 6.5 minutes
#   make bench QUICK=1  the same in about three minutes, with fewer rounds and a smaller
#                       fill: a smoke run (make bench-smoke says the same)

BENCH_OUT  ?= $(BUILD)/bench.json
BENCH_ARGS ?=

.PHONY: bench bench-smoke

# wrk drives the module; node's oidc-provider (bench/package-lock.json) is the
# issuance peer, Debian's njs module (WebCrypto behind auth_request) the JWT gate's.
$(BUILD)/.packages-bench: bench/package.json bench/package-lock.json
	scripts/need-packages wrk redis-server libnginx-mod-http-js nodejs $$(command -v npm >/dev/null || echo npm)
	cd bench && npm ci --no-audit --no-fund
	@mkdir -p $(@D) && touch $@

bench: $(MODULE) $(BUILD)/.packages-bench
	python3 bench/bench.py --module $(abspath $(MODULE)) --nginx $(NGINX_BIN) --out $(BENCH_OUT) \
		$(if $(QUICK),--quick) $(BENCH_ARGS)

bench-smoke:
	$(MAKE) bench QUICK=1

# ---- Debian package --------------------------------------------------------------
#   make deb        build/libnginx-mod-http-oauth_VERSION_ARCH.deb, laid out as Debian's
#                   own libnginx-mod-* packages (debhelper with dh-sequence-nginx from
#                   nginx-dev), built in a copy of the checkout in build/deb/, and its
#                   -dbgsym package beside it
#   make deb-test   lintian, then installs it, nginx -t with Debian's stock nginx.conf,
#                   t/ against the installed module, purge; root only; leaves the machine
#                   as it found it (scripts/deb-test)

VERSION      := $(shell cat VERSION)
DEB_ARCH     := $(shell dpkg --print-architecture)
DEB          := $(BUILD)/libnginx-mod-http-oauth_$(VERSION)_$(DEB_ARCH).deb
DEB_DBGSYM   := $(BUILD)/libnginx-mod-http-oauth-dbgsym_$(VERSION)_$(DEB_ARCH).deb
DEB_TREE     := $(BUILD)/deb/libnginx-mod-http-oauth-$(VERSION)
DEB_SOURCES  := VERSION config Makefile README.md nginx.conf.example scripts/need-packages \
                $(shell find debian src examples -type f)
DEB_PKGS     := debhelper dpkg-dev
# lintian checks the package in deb-test; building it does not need it.
DEB_TEST_PKGS := lintian

.PHONY: deb deb-test

$(BUILD)/.packages-deb:
	scripts/need-packages $(DEB_PKGS)
	@mkdir -p $(@D) && touch $@

$(BUILD)/.packages-deb-test:
	scripts/need-packages $(DEB_TEST_PKGS)
	@mkdir -p $(@D) && touch $@

deb: $(DEB)

# dpkg-buildpackage compiles with the -jN make was given (serial without one; its
# own default is every core). The package builds from debian/rules alone: none
# of this make's flags or variables reach it through MAKEFLAGS.
DEB_JOBS      = $(or $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),1)

# The changelog is written here so that VERSION stays the one place for the
# version; its date is the last commit's, so rebuilding one commit gives the same
# changelog and file dates.
$(DEB): $(DEB_SOURCES) | $(BUILD)/.packages-build $(BUILD)/.packages-deb
	rm -rf $(BUILD)/deb && mkdir -p $(DEB_TREE)
	cp --parents -p $(DEB_SOURCES) $(DEB_TREE)/
	{ echo "libnginx-mod-http-oauth ($(VERSION)) unstable; urgency=medium"; echo; \
	  echo "  * Built from the ngx_http_oauth_module sources at version $(VERSION)."; echo; \
	  echo " -- $$(sed -n 's/^Maintainer: //p' debian/control)  $$(date -R -d @$$(git log -1 --format=%ct 2>/dev/null || date +%s))"; \
	} > $(DEB_TREE)/debian/changelog
	cd $(DEB_TREE) && MAKEFLAGS= MFLAGS= dpkg-buildpackage --build=binary --no-sign -j$(DEB_JOBS) \
		> ../build.log 2>&1 \
		|| { tail -n 40 ../build.log; exit 1; }
	mv $(BUILD)/deb/$(notdir $(DEB_DBGSYM)) $(DEB_DBGSYM)
	mv $(BUILD)/deb/$(notdir $@) $@

# With the debug symbols installed too, so that gdb finds the token store in the
# installed module (t/40-faults.t).
deb-test: $(DEB) $(BUILD)/.packages-interop | $(BUILD)/.packages-test $(BUILD)/.packages-fleet \
		$(BUILD)/.packages-deb-test
	scripts/deb-test $(DEB) $(DEB_DBGSYM)
