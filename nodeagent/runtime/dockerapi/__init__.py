"""Docker Engine API server of the node engine (see app.py for how routes plug in)."""
