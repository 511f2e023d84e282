# dsv4 - the one entry point.
#
#   make            static + shared library and the dsv4 program (build/)
#   make run        build, then `dsv4 verify` on the shipped golden vectors
#   make test       install Criterion/MPFR if missing, build and run every test
#   make golden     regenerate golden/ with the MPFR oracle and check MANIFEST
#   make bench      dsv4 bench
#   make install PREFIX=/usr/local
#   make fuzz       libFuzzer target for the safetensors reader (clang)
#
# Variables: CC (gcc or clang), SAN=1 (AddressSanitizer + UBSan build),
# SAN=thread (ThreadSanitizer build), BUILD (output folder, default build,
# build-san or build-tsan), DSV4_EXHAUSTIVE=0 (tests sample the 2^32 sweeps
# instead of running them all).

CC      ?= cc
PREFIX  ?= /usr/local
# The version is DSV4_VERSION_STRING of include/dsv4.h, its one place.
VERSION := $(shell sed -n 's/^\#define DSV4_VERSION_STRING "\(.*\)"$$/\1/p' include/dsv4.h)
SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# Criterion's runner, with more than one job, leaks 48 bytes of its own in
# its parent process in some runs, and LeakSanitizer then fails the suite:
# under the sanitizers the suites run one test at a time.
DSV4_TEST_JOBS ?= 1
export DSV4_TEST_JOBS
OPTLEVEL = -O1 -g
else ifeq ($(SAN),thread)
BUILD   ?= build-tsan
SANFLAGS = -fsanitize=thread -fno-omit-frame-pointer
OPTLEVEL = -O1 -g
else
BUILD   ?= build
SANFLAGS =
OPTLEVEL = -O2 -g
endif

WARN     = -std=c11 -Wall -Wextra -Wpedantic
CPPFLAGS = -Iinclude -Iio -Iref -Iopt -D_POSIX_C_SOURCE=200809L
# The oracle sees the public headers, io/, the registry in tools/ and itself:
# never ref/ or opt/.
ORACLE_CPPFLAGS = -Iinclude -Iio -Itools -Igolden/oracle -D_POSIX_C_SOURCE=200809L
# ref: no contraction into FMA, no fast-math: its bits depend only on input bits.
REF_FLAGS = -ffp-contract=off -fno-fast-math
BASEFLAGS = $(WARN) $(OPTLEVEL) -fPIC $(SANFLAGS)
# The library's objects: only what include/ marks DSV4_API is exported from
# libdsv4.so (scripts/check-exports.sh).  The static library, which the
# program and the tests link, is unaffected.
LIB_FLAGS = -fvisibility=hidden
LDLIBS   = -lpthread -lm

MACHINE := $(shell $(CC) -dumpmachine)
ifneq (,$(findstring x86_64,$(MACHINE)))
X86 = 1
endif

AVX2_FLAGS   = -mavx2 -mfma
AVX512_FLAGS = -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma

# Files named *_avx2.c / *_avx512.c hold x86 kernels: built with the ISA's
# flags on x86-64, left out elsewhere.
isa_filter = $(if $(X86),$(1),$(filter-out %_avx2.c %_avx512.c,$(1)))

# opt/*_simd.c (and tools/*_simd.c) hold the lane-wise kernels written once over the vector layer
# (opt/vec.h): never compiled on their own, each is included by its ISA
# wrappers (foo_avx2.c, foo_avx512.c), so it counts as a header here.
SIMD_SRC = $(wildcard opt/*_simd.c tools/*_simd.c)

IO_SRC   = $(sort $(wildcard io/*.c))
REF_SRC  = $(sort $(wildcard ref/*.c))
OPT_SRC  = $(call isa_filter,$(filter-out $(SIMD_SRC),$(sort $(wildcard opt/*.c))))
TOOL_LIB_SRC = $(call isa_filter,$(filter-out tools/main.c $(SIMD_SRC),$(sort $(wildcard tools/*.c))))
TEST_SRC = $(sort $(wildcard tests/test_*.c))
ORACLE_SRC = $(sort $(wildcard golden/oracle/*.c))
# The registry (operators, configs, stages, the golden-file loader), built
# into the oracle without run functions (DSV4_SCHEMA_ONLY).
ORACLE_TOOL_SRC = tools/registry.c tools/shape.c tools/compare.c tools/golden.c \
                  $(sort $(wildcard tools/ops_*.c))
ORACLE_TOOL_OBJ = $(ORACLE_TOOL_SRC:tools/%.c=$(BUILD)/oracle-tools/%.o)

IO_OBJ   = $(IO_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ  = $(IO_OBJ) $(REF_SRC:%.c=$(BUILD)/%.o) $(OPT_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ = $(TOOL_LIB_SRC:%.c=$(BUILD)/%.o)
TESTS    = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

HEADERS  = include/dsv4.h include/dsv4_io.h $(wildcard io/*.h ref/*.h opt/*.h tools/*.h tests/*.h golden/oracle/*.h) $(SIMD_SRC)

.PHONY: all lib run test test-build golden golden-check bench install uninstall clean fuzz check-deps tsan

all: lib $(BUILD)/dsv4 $(BUILD)/dsv4.pc

lib: $(BUILD)/libdsv4.a $(BUILD)/libdsv4.so

$(BUILD)/ref/%.o: ref/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) $(LIB_FLAGS) $(REF_FLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/io/%.o: io/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) $(LIB_FLAGS) $(CFLAGS) -c $< -o $@

# The ISA files of opt/ and tools/ (these rules have the shorter stem, so
# make prefers them to the folders' general rules); opt/'s are the library's.
DIR_FLAGS_opt = $(LIB_FLAGS)
define isa_rules
$$(BUILD)/$(1)/%_avx2.o: $(1)/%_avx2.c $$(HEADERS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) -I$(1) $$(BASEFLAGS) $$(DIR_FLAGS_$(1)) $$(AVX2_FLAGS) $$(CFLAGS) -c $$< -o $$@

$$(BUILD)/$(1)/%_avx512.o: $(1)/%_avx512.c $$(HEADERS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) -I$(1) $$(BASEFLAGS) $$(DIR_FLAGS_$(1)) $$(AVX512_FLAGS) $$(CFLAGS) -c $$< -o $$@
endef
$(foreach d,opt tools,$(eval $(call isa_rules,$(d))))

$(BUILD)/opt/%.o: opt/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) $(LIB_FLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/tools/%.o: tools/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itools $(BASEFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libdsv4.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libdsv4.so: $(LIB_OBJ)
	$(CC) -shared $(SANFLAGS) -Wl,-soname,libdsv4.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/dsv4: $(BUILD)/tools/main.o $(TOOL_OBJ) $(BUILD)/libdsv4.a
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# pkg-config file: dsv4.pc.in with the prefix and the version filled in.
pc_subst = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' dsv4.pc.in

$(BUILD)/dsv4.pc: dsv4.pc.in include/dsv4.h
	@mkdir -p $(dir $@)
	$(pc_subst) > $@

# ---- tests (Criterion) -----------------------------------------------------
# tests/test_mpfr_*.c check against MPFR and link it too.
$(BUILD)/tests/%: tests/%.c $(TOOL_OBJ) $(BUILD)/libdsv4.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itools -Itests $(BASEFLAGS) $(CFLAGS) $(TEST_DEFS) -o $@ $< $(TOOL_OBJ) $(BUILD)/libdsv4.a -lcriterion $(if $(findstring test_mpfr_,$@),-lmpfr -lgmp) $(LDLIBS)

# test_api reads the pkg-config file this build made.
$(BUILD)/tests/test_api: TEST_DEFS = -DDSV4_BUILD_DIR='"$(BUILD)"'
$(BUILD)/tests/test_api: $(BUILD)/dsv4.pc

# Plain programs (no Criterion) that must also run under ThreadSanitizer.
$(BUILD)/stress/%: tests/%.c $(BUILD)/libdsv4.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libdsv4.a $(LDLIBS)

# The thread pool under ThreadSanitizer: builds into build-tsan.
tsan:
	@$(MAKE) --no-print-directory SAN=thread build-tsan/stress/stress_threads
	build-tsan/stress/stress_threads

check-deps:
	@sh scripts/install-deps.sh

test-build: $(TESTS) $(BUILD)/stress/stress_threads $(BUILD)/dsv4 $(BUILD)/oracle lib $(BUILD)/dsv4.pc

test: check-deps
	@$(MAKE) --no-print-directory test-build
	@sh scripts/run-tests.sh $(BUILD)

run: all
	$(BUILD)/dsv4 verify

# ---- MPFR oracle and golden vectors ------------------------------------------
$(BUILD)/oracle-tools/%.o: tools/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ORACLE_CPPFLAGS) -DDSV4_SCHEMA_ONLY $(BASEFLAGS) $(CFLAGS) -c $< -o $@

# Linked with io/ and the registry only: a call into ref/ or opt/ would not link.
$(BUILD)/oracle: $(ORACLE_SRC) $(ORACLE_TOOL_OBJ) $(IO_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ORACLE_CPPFLAGS) $(BASEFLAGS) $(CFLAGS) -o $@ $(ORACLE_SRC) $(ORACLE_TOOL_OBJ) $(IO_OBJ) -lmpfr -lgmp $(LDLIBS)

golden: check-deps
	@$(MAKE) --no-print-directory $(BUILD)/oracle $(BUILD)/dsv4
	@sh scripts/golden.sh $(BUILD) regen

golden-check: $(BUILD)/oracle
	@sh scripts/golden.sh $(BUILD) check

bench: all
	$(BUILD)/dsv4 bench

# ---- fuzzing (clang's libFuzzer) ---------------------------------------------
fuzz:
	@sh scripts/fuzz.sh

# ---- install -----------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/dsv4.h include/dsv4_io.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libdsv4.a $(DESTDIR)$(PREFIX)/lib/libdsv4.a
	install -m 755 $(BUILD)/libdsv4.so $(DESTDIR)$(PREFIX)/lib/libdsv4.so.0
	ln -sf libdsv4.so.0 $(DESTDIR)$(PREFIX)/lib/libdsv4.so
	install -m 755 $(BUILD)/dsv4 $(DESTDIR)$(PREFIX)/bin/dsv4
	$(pc_subst) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/dsv4.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/dsv4.h $(DESTDIR)$(PREFIX)/include/dsv4_io.h $(DESTDIR)$(PREFIX)/lib/libdsv4.a \
	      $(DESTDIR)$(PREFIX)/lib/libdsv4.so $(DESTDIR)$(PREFIX)/lib/libdsv4.so.0 \
	      $(DESTDIR)$(PREFIX)/bin/dsv4 $(DESTDIR)$(PREFIX)/lib/pkgconfig/dsv4.pc

clean:
	rm -rf build build-san build-clang build-fuzz
