"""A behavioural test suite for sentiment classifiers (Ribeiro et al. 2020, "Beyond Accuracy: Behavioral Testing
of NLP Models with CheckList"), written for nlp-lstm as data: ``suite.json`` holds its word lists and templates.

``suite`` reads and expands the templates, ``perturb`` changes real texts, ``scoring`` decides what fails
and ``runner`` runs it all over a model (``nlp_lstm.evaluate_behaviour``).
"""
