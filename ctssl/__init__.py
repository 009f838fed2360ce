"""ctssl: self-supervised pre-training (VoCo, PCRLv2) streaming crops from a corpus.

Named ``ctssl``, not ``ssl``: a top-level ``ssl`` package would shadow Python's
standard-library ``ssl`` module and break every HTTPS client.
"""
