"""phi-pipeline: streaming PHI detection and de-identification in front of LLM providers."""

__version__ = "0.1.0"
