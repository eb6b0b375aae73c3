"""Resolving a run's config: defaults < preset (`base:` chains) < --config FILE < dotted `key=value` overrides.

Every layer is validated against the schema: an unknown key is refused with a "did you mean" suggestion, a value of
the wrong type or outside its choices is refused naming the key and what it accepts.
"""

from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path

import yaml

from ganctl.config import schema
from ganctl.errors import UsageError

# List-valued keys whose length is part of their meaning.
FIXED_LENGTH = {"betas"}


def presets_dir() -> Path:
    """The presets folder: `presets/` beside the package in a checkout or editable install, else the packaged copy."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here.parent / "presets", here / "presets"):
        if cand.is_dir():
            return cand
    raise UsageError("ganctl's presets folder is missing from this installation; reinstall it (`pip install .` or "
                     "`pip install -e .` from a checkout)")


def list_presets() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def _read_yaml(path: Path, what: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: file not found") from None
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise UsageError(f"{what} {path}: not valid YAML{where}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path}: expected a mapping of sections (model:, train:, ...)")
    return data


def load_preset(name: str, _seen: tuple = ()) -> dict:
    """A preset with its `base:` chain merged in (base first)."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else presets_dir() / f"{name}.yaml"
    if not path.is_file():
        names = list_presets()
        hint = difflib.get_close_matches(name, names, n=1)
        tip = f"did you mean {hint[0]!r}? " if hint else ""
        raise UsageError(f"--preset {name!r}: no such preset; {tip}see `ganctl presets list`")
    if name in _seen:
        raise UsageError(f"preset {name!r}: `base:` chain loops ({' -> '.join(_seen + (name,))})")
    data = _read_yaml(path, "preset")
    base = data.pop("base", None)
    if base:
        merged = load_preset(str(base), _seen + (name,))
        deep_merge(merged, data)
        data = merged
    return data


def deep_merge(dst: dict, src: dict) -> dict:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


def parse_override(text: str) -> tuple[list[str], object]:
    """`train.batch=32` -> (['train', 'batch'], 32). Values are parsed as YAML scalars/lists."""
    if "=" not in text:
        raise UsageError(f"override {text!r}: expected KEY=VALUE, e.g. train.batch=32")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise UsageError(f"override {text!r}: bad key; expected a dotted key like train.batch")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _suggest(key: str, options) -> str:
    hint = difflib.get_close_matches(key, list(options), n=1, cutoff=0.5)
    return f"; did you mean {hint[0]!r}?" if hint else f"; valid keys: {', '.join(sorted(options))}"


def _check_value(path: tuple, value, default):
    """Return the value coerced to the default's type, or raise UsageError naming the key."""
    key = ".".join(path)
    choices = schema.CHOICES.get(path[-2:] if len(path) >= 2 else path)
    if choices is not None:
        if value not in choices:
            raise UsageError(f"config key {key}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value
    if value is None:
        return None
    want = schema.TYPED_NONE.get(path[-2:]) if default is None else type(default)
    if want is None:
        return value
    if want is bool:
        if isinstance(value, bool):
            return value
    elif want is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif want is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif want is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif want is list:
        if isinstance(value, (list, tuple)):
            if default and path[-1] in FIXED_LENGTH and len(value) != len(default):
                raise UsageError(f"config key {key}: expected a list of {len(default)} values, got {value!r}")
            return [(_check_value(path, v, default[0]) if default else v) for v in value]
    elif isinstance(value, want):
        return value
    raise UsageError(f"config key {key}: expected {want.__name__}, got {value!r}")


def _check_resolution_map(path: tuple, value, value_type) -> dict:
    """{resolution: value} with resolutions powers of two >= 4 (YAML may give them as strings); keys come back as ints."""
    key = ".".join(path)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"config key {key}: expected a map by resolution, e.g. {{4: 128, 8: 64}}, got {value!r}")
    out = {}
    for res, v in value.items():
        try:
            r = int(str(res))
        except ValueError:
            r = -1
        if r < 4 or r & (r - 1):
            raise UsageError(f"config key {key}: {res!r} is not a resolution; keys are powers of two >= 4 (4, 8, 16, ...)")
        out[r] = _check_value(path, v, value_type())
    return dict(sorted(out.items()))


def _validate(cfg: dict, defaults: dict, path: tuple = ()) -> dict:
    out = {}
    for k, v in cfg.items():
        if k not in defaults:
            where = ".".join(path + (k,))
            raise UsageError(f"config key {where}: unknown key{_suggest(k, defaults)}")
        d = defaults[k]
        if path + (k,) in schema.RESOLUTION_MAPS:
            out[k] = _check_resolution_map(path + (k,), v, schema.RESOLUTION_MAPS[path + (k,)])
        elif isinstance(d, dict):
            if not isinstance(v, dict):
                raise UsageError(f"config key {'.'.join(path + (k,))}: expected a section (mapping), got {v!r}")
            out[k] = _validate(v, d, path + (k,))
        else:
            out[k] = _check_value(path + (k,), v, d)
    for k, d in defaults.items():
        if k not in out:
            out[k] = copy.deepcopy(d)
    return out


def _defaults_for(raw: dict) -> dict:
    """The schema for this config: base defaults with the chosen family's and loss type's keys added."""
    defaults = copy.deepcopy(schema.BASE_DEFAULTS)
    family = (raw.get("model") or {}).get("family", defaults["model"]["family"])
    _check_value(("model", "family"), family, None)
    fam = schema.get_family(family)
    loss_type = (raw.get("loss") or {}).get("type", fam.losses[0])  # unset: the family's natural loss
    _check_value(("loss", "type"), loss_type, None)
    if loss_type not in fam.losses:
        raise UsageError(f"config key loss.type: {loss_type!r} does not train model.family={family}; "
                         f"use one of {', '.join(fam.losses)} (e.g. loss.type={fam.losses[0]})")
    defaults["model"] = {"family": family, "conditional": False, **schema.family_defaults(family)}
    defaults["loss"] = {"type": loss_type, **schema.loss_defaults(loss_type)}
    return defaults


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides:
        keys, value = parse_override(text)
        node = raw
        for k in keys[:-1]:
            nxt = node.setdefault(k, {})
            if not isinstance(nxt, dict):
                raise UsageError(f"override {text!r}: {k} is not a section")
            node = nxt
        node[keys[-1]] = value
    return raw


def resolve_config(preset: str | None = None, config_file: str | os.PathLike | None = None,
                   overrides: list[str] | None = None) -> dict:
    """The fully resolved, validated config dict."""
    raw: dict = {}
    if preset:
        deep_merge(raw, load_preset(preset))
        raw.setdefault("preset", preset)
    if config_file:
        extra = _read_yaml(Path(config_file), "--config")
        base = extra.pop("base", None)
        if base:
            deep_merge(raw, load_preset(str(base)))
        deep_merge(raw, extra)
    apply_overrides(raw, overrides or [])
    preset_name = raw.pop("preset", preset or "custom")
    cfg = _validate(raw, _defaults_for(raw))
    _check_family_sections(raw, cfg)
    cfg["preset"] = preset_name
    return cfg


def _check_family_sections(raw: dict, cfg: dict) -> None:
    """A `progressive:` section only means something to a family with a schedule: say so instead of ignoring it."""
    family = schema.get_family(cfg["model"]["family"])
    if raw.get("progressive") and not family.has_schedule:
        raise UsageError(f"config key progressive: model.family={family.name} has no growing schedule; remove the "
                         f"progressive section (it applies to progan)")


def validate_resolved(cfg: dict) -> dict:
    """Re-validate a config read back from a run directory or checkpoint."""
    raw = copy.deepcopy(cfg)
    preset_name = raw.pop("preset", "custom")
    out = _validate(raw, _defaults_for(raw))
    out["preset"] = preset_name
    return out
