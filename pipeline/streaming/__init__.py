"""Faust stages of the pipeline (see DESIGN.md): detect, deid, route, provider."""
