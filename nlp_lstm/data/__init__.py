"""Datasets in, token streams and padded batches out.

* ``sources``: what a dataset spec names (a built-in corpus, local files or a glob, a Hub dataset) and
  its splits; the only module of the package that imports ``datasets``.
* ``builtin``: the built-in corpora, all named ``builtin:...`` so that no Hub name means one of them.
* ``splits``: what a split holds, and how we split data that has no held-out splits of its own.
* ``batching``: token streams and truncated-BPTT batches for language models, length buckets for
  classifiers; all that inference needs from this package.
* ``token_store``: the memory-mapped cache of encoded ids.

Nothing is imported here, so that inference, which needs ``batching`` alone, loads nothing else.
"""
