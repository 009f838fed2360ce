"""Near duplicates, shared subjects and split leaks, found from manifests alone (no volume is read).

- ``align``: does one content fingerprint hold a stretched, shifted stretch of another;
- ``index``: which pairs are worth aligning (tokens, so 160K volumes are not 160K^2 pairs);
- ``links``: rows joined by checksum, series key, subject key or fingerprint, with evidence;
- ``groups``: the near-duplicate groups of one corpus (``corpus stats``: ``qc.near_duplicates``);
- ``splits``: groups that cross splits (``qc.split_leaks``).
"""
