# Thin wrapper: deps, build, run, test (SPEC §4). The real build is CMake.
BUILD      ?= build
RUN_BUILD  ?= build-run
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-run run test unit fuzz cluster bench clean format-check lint coverage

all: build

deps:
	@./deploy/install-deps.sh

# Test build: Debug + ASan/UBSan.
build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Debug -DMN_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Build used by `make run` / `make cluster`: optimised, no sanitizers.
build-run: deps
	@cmake -S . -B $(RUN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(RUN_BUILD) -j $(JOBS)

run: build-run
	@./deploy/run-dev.sh $(RUN_BUILD) 1

cluster: build-run
	@./deploy/run-dev.sh $(RUN_BUILD) 3

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMN_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

test: build fuzz
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

bench: build-run
	@if ls tests/bench/*/run.sh >/dev/null 2>&1; then \
		for b in tests/bench/*/run.sh; do $$b $(RUN_BUILD) || exit 1; done; \
	else echo "no benchmarks yet"; fi

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

lint: build
	@./deploy/lint.sh $(BUILD)

coverage: deps
	@./deploy/coverage.sh build-cov

clean:
	rm -rf $(BUILD) $(RUN_BUILD) $(FUZZ_BUILD) build-cov var
