"""Crop samplers: pure functions of (rng, volume shape, body bbox) -> regions, crops, labels."""

from ctssl.samplers.base import CropParams, Sampler
from ctssl.samplers.boxes import Box
from ctssl.samplers.slices import SliceStackSampler, slice_sampler
from ctssl.samplers.subcrop import SubCropSampler
from ctssl.samplers.voco import VoCoSampler

__all__ = ["Box", "CropParams", "Sampler", "SliceStackSampler", "SubCropSampler", "VoCoSampler", "slice_sampler"]
