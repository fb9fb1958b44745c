"""Training: one worker loop for both methods (``worker.py``), the run that launches W of
them (``run.py``), and optimizers whose state can live in shared memory (``optim.py``)."""
