"""``nlp-lstm serve``: the models over HTTP (FastAPI on uvicorn), with a self-contained web playground.

* ``settings``: the server's models and limits, one frozen dataclass (also passed to worker processes);
* ``batcher``: concurrent classify requests merged into the length-bucketed batches ``classify`` uses;
* ``app``: the endpoints, limits, API key and errors; ``playground.html``: the page at ``/``.

The web stack is an optional extra (``pip install 'nlp-lstm[serve]'``), imported only here.
"""
