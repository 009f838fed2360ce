"""Fine-tuning a segmentation model on a labelled corpus, from exported weights or from scratch.

``config`` (no torch) holds the options and the released BTCV recipe's defaults;
``sampling`` draws crops around labels from the shards; ``model`` builds the
MONAI network an export names and reports which keys the weights filled;
``loop`` trains and validates; ``compare`` prints two runs side by side.
"""

from ctssl.finetune.config import FinetuneConfig

__all__ = ["FinetuneConfig"]
