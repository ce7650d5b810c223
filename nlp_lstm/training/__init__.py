"""The training layer: the one loop (``loop``), the run's bookkeeping (``run``), the optimiser (``optim``) and the recipes."""
