"""Built-in de-identification profiles (YAML)."""
