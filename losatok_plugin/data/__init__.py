"""Data: manifests, audio loading, training datasets, teacher-feature caches."""

from .audio_io import AudioReadError, NonFiniteAudioError, load_audio
from .manifest import DOMAINS, ManifestEntry, build_manifest, read_manifest, write_manifest

__all__ = [
    "DOMAINS",
    "AudioReadError",
    "NonFiniteAudioError",
    "ManifestEntry",
    "build_manifest",
    "load_audio",
    "read_manifest",
    "write_manifest",
]

from .dataset import AudioCropDataset, EpochSampler, NoUsableFilesError, screen_audio  # noqa: E402
from .domain_shares import DomainSharesError, WeightedEpochSampler  # noqa: E402
from .feature_cache import FeatureCache, FeatureCacheError, build_feature_cache  # noqa: E402

__all__ += [
    "AudioCropDataset",
    "EpochSampler",
    "DomainSharesError",
    "WeightedEpochSampler",
    "NoUsableFilesError",
    "screen_audio",
    "FeatureCache",
    "FeatureCacheError",
    "build_feature_cache",
]
