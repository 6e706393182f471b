"""Pre-training planner: estimates for training large language models, served over HTTP."""

__version__ = "0.1.0"
