"""``python -m nlp_lstm`` runs the command line."""

from nlp_lstm.cli import main

main()
