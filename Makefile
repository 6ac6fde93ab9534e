# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install pinned packages, run the main job
#   make test   create .venv, install pinned packages, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint clean corpus-deps corpus mini gpu-pack paper

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and on its own, so the CPU-capable wheel pinned in constraints.txt is the one used
	$(BIN)/pip install -q -c constraints.txt torch torchaudio
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,audiocraft]'
	# audiocraft 1.3.0 pins torch 2.1: install it without dependencies (the [audiocraft] extra lists them),
	# from its source distribution so that its hydra config tree (config/) comes with it
	$(BIN)/pip download -q --no-deps --no-binary audiocraft -c constraints.txt -d $(VENV)/src audiocraft
	tar -xzf $(VENV)/src/audiocraft-*.tar.gz -C $(VENV)/src
	$(BIN)/pip install -q --no-deps -c constraints.txt xformers -e $(VENV)/src/audiocraft-*/
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python recipes/demo.py --out demo_outputs

test: $(STAMP)
	$(BIN)/ruff check losatok_plugin recipes tests
	$(BIN)/ruff format --check losatok_plugin recipes tests
	$(BIN)/python -m pytest -q tests

# Side-by-side VAE benchmark (ours fp32/bf16/int8/onnxruntime beside Oobleck, DAC, EnCodec), then the DiT one
# when present; BENCH_ARGS=--quick for a smoke run
bench: $(STAMP)
	$(BIN)/python recipes/bench/bench_vae.py $(BENCH_ARGS)
	$(BIN)/python recipes/bench/bench_dit.py

# Debian packages of the offline corpus builder (recipes/data) and its end-to-end test
CORPUS_DEPS := espeak-ng flite fluidsynth fluid-soundfont-gm timgm6mb-soundfont fortunes-min wamerican \
	wngerman wfrench wspanish witalian wdutch wportuguese \
	ktuberling-data sound-theme-freedesktop sound-icons frozen-bubble-data \
	tuxpaint-stamps-default festvox-ru ffmpeg wordwarvi-sound bucklespring-data \
	asterisk-core-sounds-en asterisk-core-sounds-es asterisk-core-sounds-fr asterisk-core-sounds-it asterisk-core-sounds-ru \
	asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722 \
	asterisk-core-sounds-ru-g722 warzone2100-music planetblupi-music-ogg wesnoth-1.16-music \
	flight-of-the-amazon-queen drascula drascula-spanish drascula-italian

corpus-deps:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(CORPUS_DEPS)

corpus: $(STAMP)
	$(BIN)/python -m recipes.data.build_corpus --out data/corpus

# Reproduce losatok-mini: corpus, teacher, SemBo, tokenizer, export, evaluation (resumable; hours on a CPU)
mini: $(STAMP)
	bash recipes/mini/run_mini.sh

# The paper's claims at small scale (recipes/paper/README.md): resumable. The default is what REPORT.md ran (the
# cpu1h budget on make mini's teacher and feature cache); e.g. PAPER_ARGS="--budget tiny --only sembo_vs_pca"
PAPER_ARGS ?= --budget cpu1h --teacher runs/teacher_mini/final --feature-cache data/cache/teacher_mini
paper: $(STAMP)
	$(BIN)/python -m recipes.paper.run $(PAPER_ARGS)
	$(BIN)/python -m recipes.paper.report

# A GPU session's training pack (recipes/mini/README.md, "On a GPU"): the device's missing wheels in
# packs/.whl, a balanced Opus selection of the corpus in packs/mini_v2 sized so that the tree, the
# wheels and the pack travel in one device run (64 MiB), with runs/sembo_mini/final as init/ when it
# exists (else 8 MiB are kept for it: add it later with pack.py init). PACK_ARGS=--kbps 32 etc.
gpu-pack: $(STAMP)
	$(BIN)/python recipes/mini/gpu/pack.py wheels --out packs/.whl --slim-diffusers
	$(BIN)/python recipes/mini/gpu/pack.py build --manifest data/corpus/train.jsonl \
		--valid-manifest data/corpus/valid.jsonl --out packs/mini_v2 --overwrite \
		$(if $(wildcard runs/sembo_mini/final/config.json),--init runs/sembo_mini/final,--reserve-mb 8) $(PACK_ARGS)
	$(BIN)/python recipes/mini/gpu/pack.py budget packs/mini_v2 packs/.whl

lint: $(STAMP)
	$(BIN)/ruff check losatok_plugin recipes tests
	$(BIN)/ruff format --check losatok_plugin recipes tests

clean:
	rm -rf $(VENV) demo_outputs .pytest_cache
