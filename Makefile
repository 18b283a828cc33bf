# ringfence — the two commands of the README, and a few more for developers.
#
#   make demo    install what is missing, build, then replay 19 July on a
#                real fleet: ringfenced on SQLite and 120 ringfence-agent
#                processes (examples/fleet: a good release to completion,
#                the 19 July content refused, a crashing release halted by
#                the gates from the agents' own reports), with a summary
#                table and build/demo/report.html; then the same content
#                through every layer of the pipeline, and simulated at full
#                scale (8.5 million hosts), shipped as it was and with
#                ringfence, side by side
#   make test    install what is missing, build, run the whole suite: unit
#                tests, CLI integration tests, fuzz-corpus replay — then all of
#                it again built with AddressSanitizer + UBSan
#   make fuzz    run every libFuzzer harness (FUZZ_SECONDS each, default 600)
#   make bench   the interpreter benchmark at 10,000 instances
#   make bench-checkin  ringfenced's check-in path: 100,000 hosts on loopback
#                while a rollout progresses, on SQLite then on PostgreSQL
#   make bench-agent  ringfence-agent with a 10,000-instance channel:
#                activation, idle RSS and CPU, a swap during a replay
#   make soak    10,000 hosts at 2,000 check-ins/s against a fresh ringfenced
#                for SOAK_MINUTES (default 10); fails on a failed request or
#                on memory growth over 20%
#   make clean

BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 600
SOAK_MINUTES ?= 10
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan test test-release test-asan demo fuzz bench bench-checkin bench-agent soak clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_ASAN)/build.ninja: | deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRF_SANITIZE=ON $(CMAKE_FLAGS)

build-asan: deps $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS)

test-release: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS)

test: test-release test-asan
	@echo "make test: all suites passed (release and ASan+UBSan)"

demo: build
	@python3 examples/fleet/demo.py --build $(BUILD)
	@echo
	@examples/channel-291/demo.sh $(BUILD)/bin/ringfence
	@echo
	@examples/july19-sim/compare.sh $(BUILD)/bin/ringfence

fuzz:
	@scripts/install-deps.sh --fuzz
	CC=clang cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRF_FUZZ=ON
	cmake --build $(BUILD_FUZZ) -j $(JOBS)
	@scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

bench: build
	$(BUILD)/bin/ringfence bench interp --instances 10000 --events 1000000

bench-checkin: build
	@scripts/bench-checkin.sh $(BUILD) --rollout
	@scripts/bench-checkin.sh $(BUILD) --rollout --pg

bench-agent: build
	@python3 bench/agent.py --build $(BUILD)

soak: build
	@scripts/soak.sh $(BUILD) --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
