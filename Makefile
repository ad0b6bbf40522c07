# `make test` and (from the visualizer issue on) `make viz` do all the set-up themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-all viz xvfb emoji-data lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# `make test`: everything but the tests marked slow (minutes: fresh venvs, installs), on two worker processes
# (pytest-xdist; a test file stays on one worker, so its module fixtures are built once); `make test-all`: the
# same, then the slow ones one at a time (real signals and timings, which a second busy worker would disturb).
PYTEST_FAST := $(PY) -m pytest -q -m "not slow" -n 2 --dist loadfile

test: $(STAMP) xvfb emoji-data lint
	$(PYTEST_FAST)

test-all: $(STAMP) xvfb emoji-data lint
	$(PYTEST_FAST)
	$(PY) -m pytest -q -m slow

# The window tests start their own Xvfb server when there is no display; install it if this is Debian/Ubuntu.
xvfb:
	@command -v Xvfb >/dev/null || ! command -v apt-get >/dev/null || apt-get install -y -q xvfb >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q xvfb >/dev/null 2>&1) \
		|| echo "Xvfb could not be installed: the window tests will be skipped"

# The emoji font and Unicode's emoji-test.txt: `stylegan dataset emoji` and the default model's quality test use them.
emoji-data:
	@test -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf -a -f /usr/share/unicode/emoji/emoji-test.txt \
		|| ! command -v apt-get >/dev/null \
		|| apt-get install -y -q fonts-noto-color-emoji unicode-data >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q fonts-noto-color-emoji unicode-data >/dev/null 2>&1) \
		|| echo "fonts-noto-color-emoji / unicode-data could not be installed: the emoji tests will be skipped"

viz: $(STAMP)
	$(PY) visualizer.py $(MODEL)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
