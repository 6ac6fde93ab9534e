"""Names of the semantic teachers (:mod:`losatok_plugin.teachers`), importable without torch.

Kept apart so that ``losatok teachers`` answers at once; a test checks it equals ``teachers.TEACHERS``.
"""

from __future__ import annotations

TEACHER_NAMES: tuple[str, ...] = (
    "midashenglm",
    "dasheng_base",
    "dasheng_06B",
    "dasheng_12B",
    "whisper",
    "hubert",
    "wavlm",
    "wav2vec2",
)
