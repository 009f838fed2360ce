"""Reorient and resample to the target grid (normalize), clip HU, summarize intensities, quality facts.

Nothing is imported here: reading a manifest needs only the quality columns
(corpus.preprocess.qc), not the resampling stack.
"""
