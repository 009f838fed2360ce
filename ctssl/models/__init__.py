"""Backbones: MONAI's Swin transformer encoder (VoCo) and the non-skip U-Net (PCRLv2)."""
