"""Resumable evaluation runs: a JSONL of finished items in the output folder, and atomic JSON writes.

A run's settings (dataset, protocol options, and the model's fingerprint or the baseline) are stored in
``OUTPUT/run.json``; resuming into a folder written with other settings is an error (the cached items, and any
predictions written there, would not be comparable), whether or not the earlier run finished an item. A corrupt
line of ``items.jsonl`` (a disk that filled up, an edit) is reported by file and line, and its item recomputed.
Every write goes to a temporary file first and is moved into place with ``os.replace``, so an interrupted run
never leaves a half-written file.

Under torchrun each rank keeps its own ``items.<rank>-of-<N>.jsonl`` (so each shard resumes on its own);
``gather`` merges every shard's items once all ranks are done.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from seggpt.atomic import atomic_write, clean_stale_temps
from seggpt.inference.shard import Shard


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    _write_text(Path(path), json.dumps(data, indent=2, sort_keys=False) + "\n")


def checkpoint_stamp(model: str | Path | None) -> str | None:
    """What identifies a checkpoint without reading it: size and modification time of its file(s), else its name
    (the weights' own hash is `seggpt.inference.tuned_prompt.model_fingerprint`).

    A checkpoint retrained into the same path gets another fingerprint, so its cached results are not reused.
    """
    if model is None:
        return None
    path = Path(model).expanduser()
    if not path.exists():
        from seggpt.model.hub import DEFAULT_MODEL, DEFAULT_MODEL_FILE

        path = DEFAULT_MODEL_FILE if model == DEFAULT_MODEL else path
    return files_stamp(path) or str(model)


def files_stamp(path: str | Path) -> str:
    """Name, size and modification time of a file, or of every file under a folder ("" when there are none):
    what changes when the file(s) are rewritten, without reading them."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stats = [(p.relative_to(path).as_posix() if path.is_dir() else p.name, p.stat()) for p in files if p.exists()]
    return ";".join(f"{name}:{st.st_size}:{st.st_mtime_ns}" for name, st in stats)


class ResultCache:
    """Finished items of one evaluation run, kept in ``OUTPUT/items.jsonl`` (one JSON object a line).

    Args:
        output: the run's output folder (created).
        settings: what defines the run (dataset, model fingerprint, shots, ...); must equal the stored settings
            on resume.
        resume: keep items from an earlier run with the same settings (any shards'); False starts afresh.
        shard: this process's shard under torchrun (it writes ``items.<rank>-of-<N>.jsonl``); default alone.

    Attributes:
        resumed: True when ``output`` held a run with these very settings (its items and predictions count).

    Raises:
        ValueError: ``output`` holds a run with other settings (and ``resume`` is True).
    """

    def __init__(
        self, output: str | Path, settings: dict[str, Any], *, resume: bool = True, shard: Shard | None = None
    ):
        self.output = Path(output)
        self.output.mkdir(parents=True, exist_ok=True)
        self.shard = shard = shard or Shard()
        if shard.is_main:
            clean_stale_temps(self.output)  # litter of a killed earlier run
        self.path = self.output / f"items{shard.suffix}.jsonl"
        settings = json.loads(json.dumps(settings))  # as stored: tuples become lists
        settings_path = self.output / "run.json"
        self.items: dict[str, dict[str, Any]] = {}  # every known item (all shards' on resume)
        self._own: dict[str, dict[str, Any]] = {}  # what this shard's file holds
        self.resumed = False
        stored = _read_settings(settings_path) if resume else None
        if stored is not None and stored != settings:
            changed = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
            raise ValueError(
                f"{self.output} holds results of a run with other settings ({', '.join(changed)}); "
                "use another --output folder or --no-resume"
            )
        if stored is not None:
            self.resumed = True
            self._load()
        elif shard.is_main:
            for path in self._item_files():
                path.unlink()
        shard.barrier()  # no shard writes before rank 0 has cleared a stale run
        if shard.is_main:
            write_json(settings_path, settings)

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def add(self, key: str, record: dict[str, Any]) -> None:
        """Store one finished item (``record`` gains ``"key": key``) and rewrite this shard's JSONL atomically."""
        self.items[key] = self._own[key] = {"key": key, **record}
        _write_text(self.path, "".join(json.dumps(r) + "\n" for r in self._own.values()))

    def gather(self) -> dict[str, dict[str, Any]]:
        """Wait for every shard, then merge all their items into ``items`` (alone: ``items`` as is)."""
        if self.shard.world_size > 1:
            self.shard.barrier()
            self._load()
        return self.items

    def _item_files(self) -> list[Path]:
        return sorted(self.output.glob("items*.jsonl"))

    def _load(self) -> None:
        """Read every shard's items file (items.jsonl, items.<rank>-of-<N>.jsonl); a line that is not a JSON
        record with a key is reported and left out (its item is recomputed)."""
        for path in self._item_files():
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
                try:
                    record = json.loads(line)
                    self.items[record["key"]] = record
                except (ValueError, KeyError, TypeError) as err:
                    _warn(f"{path} line {number} is corrupt ({err}); that item is recomputed")
                    continue
                if path == self.path:
                    self._own[record["key"]] = record


def _read_settings(path: Path) -> dict[str, Any] | None:
    """The stored settings, or None when there are none or they cannot be read (then the run starts afresh)."""
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        _warn(f"{path} is corrupt ({err}); starting afresh")
        return None
    if not isinstance(stored, dict):
        _warn(f"{path} is not a settings record; starting afresh")
        return None
    return stored


def _warn(message: str) -> None:
    print(f"seggpt eval: warning: {message}", file=sys.stderr)


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))
