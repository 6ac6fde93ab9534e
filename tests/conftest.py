from __future__ import annotations

import pytest
import torch

from losatok_plugin import LoSATokVAE, tiny_config


@pytest.fixture(scope="session")
def tiny_vae() -> LoSATokVAE:
    torch.manual_seed(0)
    return LoSATokVAE(**tiny_config().to_dict()).eval()
