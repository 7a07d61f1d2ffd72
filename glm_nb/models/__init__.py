"""Checkpoints: Hugging Face GLM-4-0414 folders, read lazily."""

from .checkpoint import Checkpoint, Glm4Spec, RopeSpec
from .safetensors_file import SafetensorsFile

__all__ = ["Checkpoint", "Glm4Spec", "RopeSpec", "SafetensorsFile"]
