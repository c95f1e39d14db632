"""Typed, validated project configuration (the YAML files under `config/`)."""
