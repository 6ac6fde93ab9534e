"""Generation: DiT pipelines (diffusers' StableAudio and LongCat-AudioDiT) on LoSATok latents.

Building the stock pipelines and their conditioning (``pipelines.py``), offline prompts and tokenizers
(``text.py``) and the ``losatok generate`` library call (``generate.py``).
"""
