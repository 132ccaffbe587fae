# qtune — build, demo and tests.  `make`, `make demo`, `make test`, `make asan`.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(CI),true)
WARN    += -Werror
endif
PKGS    := ncursesw openblas libcjson yaml-0.1 libpcre2-8
# Recursively expanded on purpose: pkg-config runs when a recipe needs the
# flags, i.e. after the deps stamp has installed what was missing.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
CFLAGS  += $(OPT) $(WARN) -std=gnu11 -pthread $(SANITIZE)
CPPFLAGS = -Iengine -I. -Itui -Ipanels -Icli $(PKG_CFLAGS) -D_GNU_SOURCE
LDLIBS   = $(PKG_LIBS) $(CUDA_LIBS) -lm -lpthread
LDFLAGS += $(SANITIZE) -pthread

ENGINE_SRC := $(sort $(wildcard engine/*/*.c sessions/*.c))

# CUDA backend (engine/backend/cuda): built when nvcc is found (make NVCC=
# builds without it).  One target, sm_90 machine code plus its PTX for newer
# GPUs; cudart linked statically, cuBLAS dynamically from the toolkit.
NVCC    ?= $(shell command -v nvcc 2>/dev/null)
ifneq ($(strip $(NVCC)),)
CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(realpath $(NVCC))))
CUDA_LIB  := $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib))
NVFLAGS ?= -O3 -std=c++17 -gencode=arch=compute_90,code=[sm_90,compute_90] -Xcompiler -Wall
CUDA_SRC := $(sort $(wildcard engine/backend/cuda/*.cu))
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/%.o)
CUDA_LIBS := -L$(CUDA_LIB) -Wl,-rpath,$(CUDA_LIB) -lcublas -lcusolver -lcudart_static -ldl -lrt -lstdc++
else
CUDA_OBJ := $(BUILD)/engine/backend/cuda/none.o
CUDA_LIBS :=
endif
UI_SRC     := $(sort $(wildcard tui/*.c panels/*.c cli/*.c))
TEST_SRC   := $(sort $(wildcard tests/unit/test_*.c))
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o) $(CUDA_OBJ)
UI_OBJ     := $(UI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Fuzz harnesses (tests/fuzz/fuzz_NAME.c): `make test` links each with
# replay.c as build/tests/test_fuzz_NAME, which replays its seed corpus and
# regression inputs; `make fuzz` builds them with libFuzzer and runs each.
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_BIN   := $(FUZZ_NAMES:%=$(BUILD)/tests/test_fuzz_%)
FUZZ_SECONDS ?= 60
DEPS_OK    := $(BUILD)/.deps-ok

.PHONY: all demo test test-cuda cuda-check unit asan clean deps fuzz
all: qtune

deps: $(DEPS_OK)
$(DEPS_OK): scripts/deps.sh
	@sh scripts/deps.sh
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# quant.cu and fwd.cu share quant.c's arithmetic: no fused multiply-adds the
# CPU does not do (explicit fmaf stays fused).
$(BUILD)/engine/backend/cuda/%.o: engine/backend/cuda/%.cu | $(DEPS_OK)
	@mkdir -p $(@D)
	$(NVCC) -Iengine -I. -D_GNU_SOURCE $(NVFLAGS) -fmad=false -MMD -MP -c -o $@ $<

$(BUILD)/libqtengine.a: $(ENGINE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/qtune: $(UI_OBJ) $(BUILD)/libqtengine.a
	$(CC) $(LDFLAGS) -o $@ $(UI_OBJ) $(BUILD)/libqtengine.a $(LDLIBS)

qtune: $(BUILD)/qtune
	@cp $< $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libqtengine.a | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libqtengine.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(BUILD)/libqtengine.a | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/fuzz -DFUZZ_NAME='"$*"' -o $@ $< tests/fuzz/replay.c $(BUILD)/libqtengine.a $(LDFLAGS) $(LDLIBS)

# tests/tools/: programs the test scripts run (no engine): pngcheck reads
# the screenshots of tests/cli/test_report.sh.
PNGCHECK := $(BUILD)/tests/tools/pngcheck
$(PNGCHECK): tests/tools/pngcheck.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

unit: $(TEST_BIN) $(FUZZ_BIN) $(PNGCHECK)

# clang's libFuzzer with ASan+UBSan: each harness runs FUZZ_SECONDS on a
# copy of its seed corpus (scripts/fuzz.sh; executions go to build-fuzz/).
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) sh scripts/fuzz.sh $(FUZZ_NAMES)

test: $(BUILD)/qtune $(TEST_BIN) $(FUZZ_BIN) $(PNGCHECK)
	@QTUNE_TEST_DEPS=1 sh scripts/deps.sh
	@QTUNE_BIN=$(BUILD)/qtune QTUNE_TESTBIN=$(BUILD)/tests sh tests/run.sh

# The CUDA backend against the CPU one, on a machine with a GPU (SKIP lines
# without one).
test-cuda: $(BUILD)/qtune $(BUILD)/tests/test_cuda
	@QTUNE_BIN=$(BUILD)/qtune QTUNE_TESTBIN=$(BUILD)/tests sh tests/cuda/run.sh

# Compile-only check of the CUDA sources without a toolkit installed (CI):
# nvcc and headers fetched from the package registry (scripts/ci/cuda_check.sh)
cuda-check:
	@sh scripts/ci/cuda_check.sh

demo: qtune
	./qtune share/models/tiny-glm-moe --calib share/data/calib.txt

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

clean:
	rm -rf build build-asan build-fuzz qtune tests/out

-include $(ENGINE_OBJ:.o=.d) $(UI_OBJ:.o=.d)
