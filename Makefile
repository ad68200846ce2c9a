# The front door. `make` builds, `make test` tests, `make demo` shows it running
# (`make demo-fleet`: one brain process driving four rovers).
# Every target first installs missing Debian packages (scripts/setup-deps.sh).
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build asan test demo demo-fleet bench clean

all: build

deps:
	@./scripts/setup-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

$(BUILD_ASAN)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DFB_SANITIZE=ON $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

asan: deps $(BUILD_ASAN)/CMakeCache.txt
	cmake --build $(BUILD_ASAN) -j $(JOBS)

# All tests on the normal build, then the unit tests again under ASan + UBSan.
test: build asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS) --timeout 600 -L unit

demo: build
	./scripts/demo.sh $(BUILD)

demo-fleet: build
	./scripts/demo-fleet.sh $(BUILD)

bench: build
	$(BUILD)/fieldbrain-bench

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
