# ngx_http_ci_jobs_module: build, test and run.
#
#   make deps     install what building and testing need (apt-get)
#   make          build/ngx_http_ci_jobs_module.so
#   make test     deps, module, C unit tests and the t/ suite (TEST_JOBS
#                 test files at once, 2 by default)
#   make test-asan  the same with the module and the unit tests built with
#                 ASan and UBSan (in build/asan/)
#   make deb      build/libnginx-mod-http-ci-jobs_<version>_<arch>.deb for
#                 Debian's nginx (pkg/deb.sh; t/deb.t installs it into a
#                 throwaway root)
#   make test-fresh  make test as on a new machine: a clean clone of HEAD
#                 in a bare Debian 12 root (t/fresh.sh, under build/fresh/)
#   make docs     the pictures of docs/ from their Graphviz sources
#   make run      nginx on 127.0.0.1:8080 in front of the CI emulator
#                 (or of the real CI with CI_BUCKET, CI_REGION,
#                 CI_SECRET_ID, CI_SECRET_KEY set)
#
# NGX_SRC is the nginx source tree built against: by default Debian's
# (nginx-dev), configured with the installed nginx's flags (conf_flags),
# the suite running /usr/sbin/nginx.  A full source tree (an unpacked
# release) builds in build/nginx-<version>/ instead, and for test,
# test-asan and run its nginx too, which then runs the suite:
#
#   make module NGX_SRC=DIR  build/nginx-<version>/ngx_http_ci_jobs_module.so
#   make nginx NGX_SRC=DIR   build/nginx-<version>/nginx/objs/nginx
#   make test NGX_SRC=DIR    also DIR's nginx, the unit tests, the t/ suite
#   make test-asan NGX_SRC=DIR
#
# NGX_SRC=build/src/nginx-<version> is unpacked first, if it is not there,
# from $(NGX_TARBALLS)/nginx-<version>.tar.gz (by default ../shared/nginx/).

SHELL       := /bin/bash

NGX_KIT     := /usr/share/nginx/src
NGX_SRC     ?= $(NGX_KIT)
BUILD       := $(CURDIR)/build
NGX_TARBALLS ?= $(abspath $(CURDIR)/../shared/nginx)

# Debian's build kit is NGX_KIT itself, or a copy of it (it has conf_flags);
# anything else is a full source tree.  Decided by the name first: before
# make deps has installed nginx-dev, the kit is not there to look at.
ifneq ($(abspath $(NGX_SRC)),$(NGX_KIT))
ifeq ($(wildcard $(NGX_SRC)/conf_flags),)
# a full source tree: its version names its build directory, and its own
# nginx runs the suite
NGX_TREE    := $(abspath $(NGX_SRC))
NGX_VERSION := $(shell sed -n 's/^.define NGINX_VERSION *"\(.*\)"/\1/p' \
                   $(NGX_TREE)/src/core/nginx.h 2>/dev/null)
NGX_VERSION := $(or $(NGX_VERSION), \
                   $(patsubst nginx-%,%,$(notdir $(NGX_TREE))))
BUILD       := $(CURDIR)/build/nginx-$(NGX_VERSION)
NGX_BIN     := $(BUILD)/nginx/objs/nginx
endif
endif

NGX_BUILD   := $(BUILD)/nginx
MODULE      := $(BUILD)/ngx_http_ci_jobs_module.so

# the pure core, as config lists it (CI_JOBS_CORE_SRCS), for the unit tests,
# fuzz targets and micro-benchmarks
CORE_SRCS   := $(patsubst ./%,%,$(shell ngx_addon_dir=.; \
                   eval "$$(awk '/^CI_JOBS_CORE_SRCS=/ { f = 1 } \
                                 f { print; if (/"$$/) exit }' config)"; \
                   echo $$CI_JOBS_CORE_SRCS))
ifeq ($(CORE_SRCS),)
$(error no CI_JOBS_CORE_SRCS in config)
endif
MODULE_SRCS := config ngx_http_ci_jobs_module.c $(wildcard src/*.[ch])

UNIT_SRCS   := $(wildcard t/unit/*_test.c)
UNIT_BINS   := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
UNIT_CFLAGS := -g -O2 -Wall -Wextra -Wno-unused-parameter -Werror -Isrc -It/unit \
               $(shell pkg-config --cflags libxml-2.0 2>/dev/null \
                       || echo -I/usr/include/libxml2)
UNIT_LIBS   := -lcrypto -lxml2 -ljansson

# what building the module needs, and what the suite needs besides
BUILD_PKGS  := build-essential nginx-core nginx-dev libssl-dev libxml2-dev \
               libjansson-dev libpcre2-dev zlib1g-dev pkg-config
TEST_PKGS   := openssl perl libio-socket-ssl-perl curl chromium dpkg-dev

# test files prove runs at once (prove -j): 1 runs them one by one, as
# under valgrind (TEST_NGINX_VALGRIND), whose nginx is slow enough alone
TEST_JOBS   ?= $(if $(TEST_NGINX_VALGRIND),1,2)

FUZZ_TIME   ?= 60
FUZZ_CC     ?= clang
FUZZ_FLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined -Isrc -It/unit \
               $(shell pkg-config --cflags libxml-2.0 2>/dev/null \
                       || echo -I/usr/include/libxml2)
FUZZ_TARGETS := xml request credentials cache sign metadata token \
                notification

.PHONY: all module nginx deps test unit prove run fuzz fuzz-deps bench \
        bench-deps bench-profile bench-strace bench-sign bench-token \
        bench-xml bench-cache \
        bench-memory bench-fleet bench-watch bench-callback soak test-asan \
        test-fresh deb docs clean

all: module

# $(call apt_install,PACKAGES): apt-get install those not installed yet
define apt_install
	@missing=""; \
	for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi
endef

module: $(MODULE)

# a full tree's nginx (NGX_SRC=DIR; nothing with Debian's), alone: built
# with make -j2 before make prove, which would build it one file at a time
nginx: $(NGX_BIN)

deps:
	$(call apt_install,$(BUILD_PKGS) $(TEST_PKGS) \
	    $(if $(shell command -v npm),,nodejs npm))
	@# the official COS SDK, the reference t/json.t compares JSON with,
	@# and jsonwebtoken, which mints t/access.t's tokens
	@[ -d t/sdk/node_modules/cos-nodejs-sdk-v5 ] \
	    && [ -d t/sdk/node_modules/jsonwebtoken ] || \
	    (cd t/sdk && npm install --no-package-lock --no-audit --no-fund \
	        --loglevel=error)

ifeq ($(NGX_TREE),)
# the kit itself, for make module on a machine that has never run make deps
$(NGX_KIT)/conf_flags:
	$(call apt_install,$(BUILD_PKGS))

# nginx's own configure script, with the flags the installed nginx was
# built with, so that the module is binary compatible with it.
$(NGX_BUILD)/objs/Makefile: $(NGX_SRC)/conf_flags config
	rm -rf $(NGX_BUILD) && mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log
else
# A full tree, copied and configured with what the suite needs: debug
# logging (credentials.t), TLS to upstream, HTTP/2 (http2.t), auth_request
# (examples.t); the start-up log on stderr, as each test's prefix (-p) has
# no logs/.  A release tarball has ./configure, an export of the release
# tag auto/configure.
NGX_TREE_FLAGS := --with-compat --with-debug --with-threads \
                  --with-http_auth_request_module \
                  --with-http_ssl_module --with-http_v2_module \
                  --error-log-path=stderr

$(NGX_BUILD)/objs/Makefile: $(NGX_TREE)/src/core/nginx.h config Makefile
	rm -rf $(NGX_BUILD) && mkdir -p $(BUILD)
	cp -r $(NGX_TREE) $(NGX_BUILD)
	cd $(NGX_BUILD) && \
	    $$([ -f configure ] && echo ./configure || echo auto/configure) \
	        $(NGX_TREE_FLAGS) \
	        --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log

# that tree's nginx, whole (make -f objs/Makefile), for the suite
$(NGX_BIN): $(NGX_BUILD)/objs/Makefile
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile

# a release unpacked from its tarball: NGX_SRC=build/src/nginx-<version>
$(CURDIR)/build/src/nginx-%/src/core/nginx.h: \
        | $(NGX_TARBALLS)/nginx-%.tar.gz
	mkdir -p $(CURDIR)/build/src
	tar -xzf $| -C $(CURDIR)/build/src
	touch $@
endif

NGX_CC_OPT  ?= -g -O2 -fPIC -Werror
NGX_LD_OPT  ?= -fPIC

$(MODULE): $(NGX_BUILD)/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new file, renamed into place: a running nginx keeps its mapping
	cp $(NGX_BUILD)/objs/ngx_http_ci_jobs_module.so $@.tmp
	mv -f $@.tmp $@

$(BUILD)/unit/%: t/unit/%.c $(CORE_SRCS) $(wildcard src/*.h) $(wildcard t/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

# the byte scans' and compares' portable paths, which an x86-64 build
# never takes
UNIT_PORTABLE := $(BUILD)/unit/request_test_portable \
                 $(BUILD)/unit/token_test_portable \
                 $(BUILD)/unit/xml_scan_test_portable

$(BUILD)/unit/%_portable: t/unit/%.c $(CORE_SRCS) $(wildcard src/*.h) $(wildcard t/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -U__SSE2__ -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

unit: $(UNIT_BINS) $(UNIT_PORTABLE)
	prove -e '' $(UNIT_BINS) $(UNIT_PORTABLE)

# the module, and nginx when NGX_SRC is a full tree, for the suite
NGX_TEST_ENV = TEST_NGINX_MODULE=$(MODULE) \
               $(if $(NGX_BIN),TEST_NGINX_BINARY=$(NGX_BIN))

# TEST_NGINX_STRICT: a test whose prerequisite is missing fails, not skips
prove: module $(NGX_BIN)
	$(NGX_TEST_ENV) TEST_NGINX_STRICT=1 prove -j$(TEST_JOBS) -r t

test: deps module unit prove

# make test from a clean clone of HEAD in a bare Debian 12 root: what a new
# user's first run needs that this machine already had (t/fresh.sh)
test-fresh:
	t/fresh.sh $(CURDIR)/build/fresh test

# The module (build/asan/) and the unit tests built with AddressSanitizer
# (and LeakSanitizer) and UndefinedBehaviorSanitizer, then the t/ suite with
# Debian's nginx (or NGX_SRC's, built as for make test), uninstrumented,
# and gcc's sanitizer runtimes preloaded into nginx alone
# (t/lib/CiJobsTest.pm); any report fails a test.
ASAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer

test-asan: deps $(NGX_BIN)
	$(MAKE) module unit BUILD=$(BUILD)/asan \
	    NGX_CC_OPT="$(NGX_CC_OPT) -O1 $(ASAN_FLAGS)" \
	    NGX_LD_OPT="$(NGX_LD_OPT) $(ASAN_FLAGS)" \
	    UNIT_CFLAGS="$(UNIT_CFLAGS) $(ASAN_FLAGS)"
	TEST_NGINX_MODULE=$(BUILD)/asan/ngx_http_ci_jobs_module.so \
	$(if $(NGX_BIN),TEST_NGINX_BINARY=$(NGX_BIN)) \
	TEST_NGINX_ASAN="$$($(CC) -print-file-name=libasan.so) \
	                 $$($(CC) -print-file-name=libubsan.so)" \
	TEST_NGINX_STRICT=1 prove -j$(TEST_JOBS) -r t

# the Debian package, for Debian's nginx only (its ABI is the package's
# dependency): the module as make builds it, stripped
deb: module
	@[ -z "$(NGX_BIN)" ] || \
	    { echo "make deb: for Debian's nginx, not NGX_SRC=$(NGX_SRC)"; exit 1; }
	pkg/deb.sh $(MODULE) $(BUILD)

run: deps module $(NGX_BIN)
	$(NGX_TEST_ENV) perl t/run.pl

# make fuzz FUZZ_TIME=N: each libFuzzer target N seconds, from its corpus
fuzz: fuzz-deps $(patsubst %,$(BUILD)/fuzz/%_fuzz,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    case $$t in xml|cache|notification) dict=-dict=fuzz/xml.dict;; *) dict=;; esac; \
	    mkdir -p $(BUILD)/fuzz/$$t-corpus && \
	    echo "fuzzing $$t for $(FUZZ_TIME)s" && \
	    $(BUILD)/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_TIME) \
	        -max_len=65536 -print_final_stats=1 $$dict \
	        -artifact_prefix=$(BUILD)/fuzz/$$t- \
	        $(BUILD)/fuzz/$$t-corpus fuzz/corpus/$$t \
	        2> $(BUILD)/fuzz/$$t.log \
	    || { tail -n 40 $(BUILD)/fuzz/$$t.log; exit 1; }; \
	    grep -h 'stat::number_of_executed_units' $(BUILD)/fuzz/$$t.log; \
	done

fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null \
	    && [ -n "$$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] \
	    || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq --no-install-recommends clang \
	            libclang-rt-14-dev)

# each target links the whole pure core: it uses what it fuzzes
$(BUILD)/fuzz/%_fuzz: fuzz/%_fuzz.c $(CORE_SRCS) $(wildcard src/*.h) \
        t/unit/pool.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) -lcrypto -lxml2 -ljansson

# the gateway next to plain nginx and an njs signer, the micro-benchmarks,
# the cache's capacity, the fleet and the watch; the tables and a plot land in
# build/bench/
bench: bench-deps module bench-sign bench-token bench-xml bench-cache
	perl bench/run.pl
	$(MAKE) bench-fleet
	$(MAKE) bench-watch

# what a polling crowd costs CI through one node, the fleet of examples/
# and the same fleet without the hash (about 40 s)
bench-fleet: module $(NGX_BIN)
	$(NGX_TEST_ENV) perl bench/fleet.pl

# instructions per request of each scenario, under callgrind
bench-profile: bench-deps module
	perl bench/run.pl profile

# system calls per request of each scenario, strace -c on the worker
bench-strace: bench-deps module
	perl bench/run.pl strace

# the suite's packages and Node modules too: the bench mints access tokens
bench-deps: deps
	$(call apt_install,wrk gnuplot-nox libnginx-mod-http-js valgrind)

# the watch under 10,000 clients (BENCH_WATCHERS) in turn: event streams,
# streams with nothing to tell, polling through the pending micro-cache,
# long-polls (about 4 minutes); needs node (make deps)
bench-watch: module $(NGX_BIN)
	$(NGX_TEST_ENV) perl bench/watch.pl

# how many answers a 10 MB zone holds
bench-cache: module
	perl bench/cache.pl

# from CI's notification to the event at 1,000 watchers (p50, p99)
bench-callback: module
	perl bench/callback.pl

# the worker's peak RSS for slow readers of large answers, XML and JSON
# (about 1.5 minutes); BENCH_MODULE=FILE measures another build
bench-memory: module
	perl bench/memory.pl

# nanoseconds per request validation and per signature
bench-sign: $(CORE_SRCS)
	@mkdir -p $(BUILD)
	$(CC) -O2 $(UNIT_CFLAGS) -o $(BUILD)/sign_bench bench/sign_bench.c \
	    $(CORE_SRCS) $(UNIT_LIBS)
	$(BUILD)/sign_bench

# microseconds per access token check and per key set read
bench-token: $(CORE_SRCS)
	@mkdir -p $(BUILD)
	$(CC) -O2 $(UNIT_CFLAGS) -o $(BUILD)/token_bench bench/token_bench.c \
	    $(CORE_SRCS) $(UNIT_LIBS)
	$(BUILD)/token_bench

# the XML pass on a 4 MB list answer, next to libxml2 parsing alone
bench-xml: $(CORE_SRCS)
	@mkdir -p $(BUILD)
	$(CC) -O2 $(UNIT_CFLAGS) -o $(BUILD)/xml_bench bench/xml_bench.c \
	    $(CORE_SRCS) $(UNIT_LIBS)
	$(BUILD)/xml_bench
	@command -v valgrind >/dev/null \
	    && perl bench/xml_count.pl $(BUILD)/xml_bench \
	    || echo "valgrind missing: no instruction counts (make bench-deps)"

# about 2.5 minutes of load through nginx's two workers in front of the
# emulator: steady (RSS growth), 10 reloads, an emulator outage
soak: module
	$(call apt_install,wrk curl)
	perl bench/soak.pl

# the pictures of docs/ from their Graphviz sources
docs: docs/fleet.svg

docs/%.svg: docs/%.dot
	$(call apt_install,graphviz)
	dot -Tsvg -o $@ $<

clean:
	rm -rf $(BUILD)
