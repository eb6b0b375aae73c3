"""Configuration: defaults < preset (with optional `base:`) < --config FILE < dotted key=value overrides, validated."""

from ganctl.config.load import resolve_config, load_preset, list_presets, presets_dir  # noqa: F401
