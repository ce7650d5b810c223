"""A pretrained transformer fine-tuned as a teacher for the LSTM classifier (the ``teacher`` extra).

``base`` finds the pretrained encoder and tells a teacher directory apart, without importing
``transformers``; ``model`` loads, runs and saves a teacher with it (its training recipe is
``nlp_lstm.training.teacher``, on the one loop); ``labels`` computes a teacher's outputs on a transfer set once and caches
them. Only training with a teacher, and using a teacher directory itself, import ``transformers``:
an LSTM loads and runs without it.
"""
