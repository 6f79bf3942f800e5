"""Resumable evaluation runs: a JSONL of finished items in the output folder, and atomic JSON writes.

A run's settings are stored in ``OUTPUT/run.json``; resuming into a folder written with other settings is
an error (the cached items would not be comparable). Every write goes to a temporary file first and is
moved into place with ``os.replace``, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seggpt.atomic import atomic_write


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    _write_text(Path(path), json.dumps(data, indent=2, sort_keys=False) + "\n")


class ResultCache:
    """Finished items of one evaluation run, kept in ``OUTPUT/items.jsonl`` (one JSON object a line).

    Args:
        output: the run's output folder (created).
        settings: what defines the run (dataset, model, shots, ...); must equal the stored settings on resume.
        resume: keep items from an earlier run with the same settings; False starts afresh.

    Raises:
        ValueError: ``output`` holds a run with other settings.
    """

    def __init__(self, output: str | Path, settings: dict[str, Any], *, resume: bool = True):
        self.output = Path(output)
        self.output.mkdir(parents=True, exist_ok=True)
        self.path = self.output / "items.jsonl"
        settings = json.loads(json.dumps(settings))  # as stored: tuples become lists
        settings_path = self.output / "run.json"
        self.items: dict[str, dict[str, Any]] = {}
        if resume and settings_path.is_file() and self.path.is_file():
            stored = json.loads(settings_path.read_text())
            if stored != settings:
                changed = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
                raise ValueError(
                    f"{self.output} holds results of a run with other settings ({', '.join(changed)}); "
                    "use another --output folder or --no-resume"
                )
            for line in self.path.read_text().splitlines():
                record = json.loads(line)
                self.items[record["key"]] = record
        else:
            self.path.unlink(missing_ok=True)
        write_json(settings_path, settings)

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def add(self, key: str, record: dict[str, Any]) -> None:
        """Store one finished item (``record`` gains ``"key": key``) and rewrite the JSONL atomically."""
        self.items[key] = {"key": key, **record}
        _write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.items.values()))


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))
