"""What the Config page knows and decides, without Qt: the open file, its own dict and what follows from it.

:class:`ConfigState` holds the file's *own* dict (what its YAML says, ``_base_`` included) and derives the
rest from it on every change: the merged values the form shows, the validation messages per field, the
keys that differ from the base, whether the pre-flight report on hand fits the config, and so whether
Start is allowed. It mirrors the YAML editor's text (for the dirty flag) and its parse state (a syntax
error blocks Start); form edits and presets write into the own dict and give the text the editor is to
show; YAML edits replace the own dict once they parse.

While the text has a syntax error the form stays usable on the last valid own dict, but its edits never
overwrite the text the user is fixing: they wait in :attr:`ConfigState.pending` and are merged into the
YAML once it parses again, unless the user replaces the YAML with the form's values
(:meth:`~ConfigState.replace_yaml_with_form`) or drops them (:meth:`~ConfigState.drop_pending`).

A preset is shown before it is applied (:meth:`~ConfigState.preset_preview`: each key, old and new) and can
be undone (:meth:`~ConfigState.undo_preset`) while nothing else changed: the own dict and the text come
back exactly as they were.

The page (:class:`studio.gui.config.page.ConfigPage`) renders this and forwards intent; the workers it
runs (the model zoo, the pre-flight check, ``config init``) report back through the methods here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from studio.core import atomic
from studio.core.config.diff import DEFAULTS, ConfigDiff, config_diff, defaults_for, load_bases, resolve_own
from studio.core.config.form import ARCH_PATH, Choice, FormSpec, del_path, get_path, set_path, validate_raw
from studio.core.config.loader import BASE_KEY, ConfigError, merge
from studio.core.config.presets import PRESETS, Change, apply_preset, preset_changes
from studio.core.config.schema import Config, rename_old_keys
from studio.core.errors import StudioError
from studio.gui.config.jobs import PreflightResult

#: what :meth:`ConfigState.preflight_plan` asks of the page
RUN, REUSE, INVALID = "run", "reuse", "invalid"
#: a pending form edit that removes the key (the reset button)
RESET = object()


def dump_yaml(own: dict) -> str:
    """The text a form edit writes: the loader's YAML style (``to_yaml``), keys in the file's order."""
    return yaml.safe_dump(own, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _invalid_values(n: int) -> str:
    return f"{n} invalid value{'s' if n != 1 else ''}"


class ConfigState:
    """The open config and everything derived from it; see the module docstring."""

    def __init__(self) -> None:
        self.current_path: Path | None = None
        self.spec: FormSpec | None = None  # the form's fields, once the model zoo is read
        self.own: dict | None = None  # the file's own keys, as its YAML says (None: nothing parsed yet)
        self.display: dict = {}  # bases merged with own, paths as written: what the form shows
        self.config: Config | None = None  # the validated config; None while a value is invalid
        self.errors: dict[str, str] = {}  # field path -> message ("" for the file as a whole)
        self.diff: ConfigDiff | None = None  # keys differing from the base (kept as it was while a base is broken)
        self.preflight: PreflightResult | None = None
        self.preflight_for: dict | None = None  # the config dump the report on hand was made for
        self.text = ""  # the YAML editor's text
        self.saved_text = ""  # the text as last read or written
        self.yaml_error: str | None = None  # the editor's text does not parse (the form keeps the last valid state)
        self.dirty = False
        self.preset: str | None = None  # the last preset applied (the note under the preset buttons names it)
        #: form edits made while the text does not parse (path -> value, or RESET), merged once it does
        self.pending: dict[str, Any] = {}
        self._valid_own: dict | None = None  # the own dict of the last text that parsed, while the text is broken
        self._before_preset: tuple[dict, str] | None = None  # (own, text) before the last preset
        self._after_preset: str | None = None  # the text the preset gave: undo is offered while it is unchanged
        self._bases: dict = {}
        self._bases_key: tuple | None = None

    # ------------------------------------------------------------------ files
    def open(self, path: str | Path) -> str | None:
        """Read ``path`` and make it the open file; returns why not (the file is left as it was), else None.
        Its text still has to be parsed (:meth:`yaml_parsed` or :meth:`yaml_invalid`) to fill the rest."""
        path = Path(path).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            return f"{path}: cannot read: {e.strerror or e}"
        self.current_path = path
        self.own, self.config, self.errors, self.preflight, self.preflight_for = None, None, {}, None, None
        self._bases_key = None
        self.saved_text = self.text = text
        self._forget_edits()
        return None

    def _forget_edits(self) -> None:
        self.pending, self._valid_own, self.yaml_error = {}, None, None
        self.preset = self._before_preset = self._after_preset = None

    def close(self) -> None:
        """No config open (another workspace was opened)."""
        self.current_path, self.own, self.config, self.errors, self.preflight = None, None, None, {}, None
        self.preflight_for, self._bases_key, self.display, self.diff = None, None, {}, None
        self.saved_text = self.text = ""
        self._forget_edits()

    def save(self, text: str) -> str | None:
        """Write ``text`` (the editor's) to the open file atomically; returns why not, else None. The dirty flag
        follows at the next :meth:`set_text`."""
        if self.current_path is None:
            return "no config is open"
        try:
            atomic.write_text(self.current_path, text)
        except OSError as e:
            return f"{self.current_path}: cannot save: {e.strerror or e}"
        self.saved_text = self.text = text
        self._bases_key = None  # a base may have been edited meanwhile: read the bases again
        return None

    def is_outside(self, root: str | Path) -> bool:
        """The open file lies outside the workspace folder ``root`` (another workspace was opened)."""
        return self.current_path is not None and Path(root) not in self.current_path.parents

    def config_list(self, listed: list[Path]) -> list[Path]:
        """The picker's entries: the workspace's configs, and the open file when it is not one of them."""
        paths = list(listed)
        if self.current_path is not None and self.current_path not in paths:
            paths.append(self.current_path)
        return paths

    # ------------------------------------------------------------------ the YAML text
    def set_text(self, text: str) -> bool:
        """The editor's text now (typed, or loaded); True when the dirty flag changed (the text differs from
        the file's, or form edits are pending). The page calls it after every change it renders."""
        self.text = text
        return self._update_dirty()

    def _update_dirty(self) -> bool:
        dirty = self.current_path is not None and (self.text != self.saved_text or bool(self.pending))
        changed, self.dirty = dirty != self.dirty, dirty
        return changed

    def yaml_parsed(self, data: dict) -> bool:
        """The text parsed to ``data``: it becomes the own dict (keys renamed since the file was written under
        their new names, as the loader reads them), with the form edits made while it was broken merged in
        (then :attr:`text` is the text that gives: the page shows it). False when no file is open."""
        self.yaml_error = None
        self._valid_own = None
        if self.current_path is None:
            return False
        self.own = rename_old_keys(data)
        if self.pending:
            for path, value in self.pending.items():
                if value is RESET:
                    del_path(self.own, path)
                else:
                    set_path(self.own, path, value)
            self.pending = {}
            self._rewrite()
        self._derive()
        return True

    def yaml_invalid(self, message: str) -> None:
        """The text does not parse: the form keeps the last valid state (and stays usable, see
        :attr:`pending`) and nothing can start."""
        self.yaml_error = message
        if self._valid_own is None and self.own is not None:
            self._valid_own = copy.deepcopy(self.own)

    def _rewrite(self) -> None:
        """The text a change of the own dict gives; the editor is given it (it clears a syntax error)."""
        text = dump_yaml(self.own)
        if text != self.text:
            self.text = text
            self.yaml_error = None

    def _edited(self, path: str, value: Any) -> None:
        """A form edit of the own dict is in: into the text, or pending while the text does not parse."""
        if self.yaml_error is not None:
            self.pending[path] = value
        else:
            self._rewrite()
        self._derive()

    def replace_yaml_with_form(self) -> bool:
        """The text does not parse: replace it with the form's values (the last valid own dict and the pending
        edits); the editor takes :attr:`text` as one undo step. False when there is nothing to replace."""
        if self.yaml_error is None or self.own is None:
            return False
        self.pending, self._valid_own, self.yaml_error = {}, None, None
        self.text = dump_yaml(self.own)
        self._derive()
        return True

    def drop_pending(self) -> bool:
        """Forget the form edits made while the text does not parse: the form shows the last valid values."""
        if not self.pending:
            return False
        self.pending = {}
        if self._valid_own is not None:
            self.own = copy.deepcopy(self._valid_own)
        self._derive()
        return True

    def pending_note(self) -> str:
        """What the YAML's status line says about the form while the text does not parse."""
        if not self.pending:
            return "The form shows the last valid version; you may edit it: the YAML takes its changes once fixed."
        n = len(self.pending)
        keys = ", ".join(self.pending)
        return (
            f"{n} form change{'s' if n != 1 else ''} ({keys}) wait{'s' if n == 1 else ''} for the YAML: fix the error "
            "and the YAML takes them, or replace the YAML with the form's values."
        )

    # ------------------------------------------------------------------ form edits and presets
    def set_spec(self, spec: FormSpec) -> bool:
        """The model zoo was read; True when the derived state was made again with it."""
        self.spec = spec
        if self.own is None:
            return False
        self._derive()
        return True

    def form_edited(self, path: str, value: Any) -> bool:
        """A form input now holds the raw ``value``: it goes into the own dict (and the text, or :attr:`pending`
        while the text does not parse)."""
        if self.own is None:
            return False
        set_path(self.own, path, value)
        self._edited(path, value)
        return True

    def reset_key(self, path: str) -> bool:
        """Drop the file's own value of ``path`` (it falls back to the base); False when it had none."""
        if self.own is None or not del_path(self.own, path):
            return False
        self._edited(path, RESET)
        return True

    def preset_preview(self, name: str) -> list[Change]:
        """What preset ``name`` would change in the own dict (key, old, new), for the dataset's task."""
        if self.own is None:
            return []
        return preset_changes(raw=self.own, name=name, has_masks=self.has_masks(), facts=self.data_facts())

    def apply_preset(self, name: str) -> bool:
        """Merge preset ``name`` into the own dict for the dataset's task (polygons -> a segmenter). The own dict
        and text before it are kept for :meth:`undo_preset`. Refused while the text does not parse."""
        if self.own is None or self.yaml_error is not None:
            return False
        before = (copy.deepcopy(self.own), self.text)
        self.own = apply_preset(raw=self.own, name=name, has_masks=self.has_masks(), facts=self.data_facts())
        self.preset = name
        self._rewrite()
        self._derive()
        self._before_preset, self._after_preset = before, self.text
        return True

    def can_undo_preset(self) -> bool:
        """A preset was applied and nothing changed since (the text is the one it gave)."""
        return self._before_preset is not None and self.text == self._after_preset and self.yaml_error is None

    def undo_preset(self) -> bool:
        """Put the own dict and the text back exactly as they were before the last preset."""
        if not self.can_undo_preset():
            return False
        own, text = self._before_preset
        self.own, self.text = copy.deepcopy(own), text
        self.preset = self._before_preset = self._after_preset = None
        self._derive()
        return True

    def preset_note(self) -> str | None:
        return f"Applied “{self.preset}”: {PRESETS[self.preset].description}." if self.preset else None

    def reference_defaults(self) -> dict | None:
        """The defaults the diff compares with (a file without ``_base_``: the schema defaults and its
        architecture family's recipe), for the form's "Default:" lines; None when the file has a base (the diff
        names the base's values)."""
        if self.diff is None or self.diff.reference != DEFAULTS:
            return None
        choice = self.arch_choice()
        return defaults_for(choice.family if choice else None)

    def data_facts(self):
        """What the recipe looks at in the training set (from the pre-flight report), or None before it ran."""
        return getattr(self.preflight.report, "facts", None) if self.preflight is not None else None

    def has_masks(self) -> bool:
        """The training set has polygons or masks (from the pre-flight report), else the architecture's task."""
        if self.preflight is not None and self.preflight.has_masks is not None:
            return self.preflight.has_masks
        choice = self.arch_choice()
        return choice is not None and choice.task == "segment"

    def arch_choice(self) -> Choice | None:
        if self.spec is None:
            return None
        arch = self.spec.field(ARCH_PATH)
        return arch.choice(get_path(self.display, ARCH_PATH)) if arch is not None else None

    # ------------------------------------------------------------------ derived state
    def _load_bases(self) -> dict:
        """The merged ``_base_`` files, read again only when the list (or a file's time stamp) changes."""
        names = self.own.get(BASE_KEY)
        key = (repr(names), *self._base_stamps(names))
        if key != self._bases_key:
            self._bases = load_bases(self.own, self.current_path)
            self._bases_key = key
        return self._bases

    def _base_stamps(self, names: Any) -> list:
        if not names:
            return []
        names = [names] if isinstance(names, str) else names if isinstance(names, list) else []
        stamps = []
        for n in names:
            try:
                stamps.append((self.current_path.parent / str(n)).stat().st_mtime_ns)
            except OSError:
                stamps.append(None)
        return stamps

    def _derive(self) -> None:
        """Everything that follows from the own dict: values, errors, the diff from the base."""
        own = self.own
        base_error = None
        try:
            bases = self._load_bases()
        except (ConfigError, StudioError) as e:
            bases, base_error = {}, str(e)
            self._bases_key = None
        data = {k: v for k, v in own.items() if k != BASE_KEY}
        self.display = merge(bases, data)
        try:
            resolved = resolve_own(own, self.current_path, bases)
        except (AttributeError, KeyError, TypeError, ValueError):  # a section of the wrong shape: validation names it
            resolved = copy.deepcopy(self.display)
        self.config, self.errors = validate_raw(resolved, self.current_path.name, self.spec)
        if base_error is not None:
            self.config = None
            self.errors = {**self.errors, BASE_KEY: base_error}
            return  # the diff stays as it was: there is no base to compare with
        try:
            choice = self.arch_choice()
            self.diff = config_diff(own, self.current_path, bases=bases, family=choice.family if choice else None)
        except (ConfigError, StudioError):
            self.diff = None

    def unplaced_errors(self) -> dict[str, str]:
        """The messages no form field shows (a whole section, the file, a broken base): for the banner."""
        fields = {f.path for f in self.spec.fields} if self.spec is not None else set()
        return {k: v for k, v in self.errors.items() if k not in fields}

    def banner(self) -> str | None:
        unplaced = self.unplaced_errors()
        return "<br>".join(f"{k}: {v}" if k else v for k, v in unplaced.items()) if unplaced else None

    def yaml_title(self) -> str:
        name = self.current_path.name if self.current_path else ""
        bases = self.own.get(BASE_KEY) if isinstance(self.own, dict) else None
        based = f", based on {bases if isinstance(bases, str) else ', '.join(map(str, bases))}" if bases else ""
        return f"YAML — {name}{based}" if name else "YAML"

    def invalid_values(self) -> str:
        """``3 invalid values`` for the form's title, "" when every value is valid."""
        return _invalid_values(len(self.errors)) if self.errors else ""

    def save_status(self) -> str:
        return "" if self.current_path is None else "unsaved changes" if self.dirty else "saved"

    # ------------------------------------------------------------------ pre-flight and Start
    def preflight_plan(self) -> str:
        """After a change: :data:`INVALID` (no valid config to check), :data:`REUSE` (the report on hand is for
        this very config) or :data:`RUN` (check it, after a pause)."""
        if self.config is None:
            self.preflight_for = None  # self.preflight stays: its report is reused once the config is valid again
            return INVALID
        if self.config.model_dump(mode="json") == self.preflight_for and self.preflight is not None:
            return REUSE
        return RUN

    def invalid_message(self) -> str:
        return f"Fix the {_invalid_values(len(self.errors))} to check the config"

    def preflight_done(self, result: PreflightResult, cfg: Config) -> None:
        self.preflight = result
        self.preflight_for = cfg.model_dump(mode="json")

    def preflight_failed(self, message: str) -> bool:
        """The check failed (True) or was cancelled (False: nothing changes)."""
        if message == "cancelled":
            return False
        self.preflight, self.preflight_for = None, None
        return True

    def can_start(self) -> bool:
        """The config validates, its text parses and the pre-flight check of this very config found no error."""
        return (
            self.config is not None
            and self.yaml_error is None
            and self.preflight is not None
            and self.preflight_for == self.config.model_dump(mode="json")
            and self.preflight.report.ok
        )

    def start_hint(self, checking: bool) -> str:
        """Why Start is disabled, or what it does; ``checking``: a pre-flight check is pending or running."""
        if self.current_path is None:
            return "Open or create a config"
        if self.yaml_error is not None:
            return "Fix the YAML error"
        if self.config is None:
            return "Fix the invalid values"
        if self.preflight is None or checking:
            return "Checking…"
        if not self.preflight.report.ok:
            return "Fix the pre-flight errors"
        return "Saves the config and starts"
