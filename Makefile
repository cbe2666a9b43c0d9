# ripp - top-level entry points. `make demo` and `make test` install what they need.
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= 2

.PHONY: all deps build test demo bench fuzz clean

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# The whole suite, built with AddressSanitizer + UndefinedBehaviorSanitizer.
test: deps
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRIPP_SANITIZE=ON -DRIPP_WERROR=ON >/dev/null
	cmake --build $(TEST_BUILD) -j$(JOBS)
	ctest --test-dir $(TEST_BUILD) --output-on-failure -j$(JOBS)

demo: build
	./scripts/demo.sh $(BUILD)

bench: build
	./bench/run.sh $(BUILD)

# libFuzzer targets (clang-14); run one with e.g. build-fuzz/tests/fuzz/fuzz_frame -max_total_time=60
fuzz: deps
	CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DRIPP_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-fuzz out
