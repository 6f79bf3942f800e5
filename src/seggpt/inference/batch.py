"""Segmenting many image files: FILE|DIR|GLOB inputs, output names checked before any model work, and the
read-segment-write loop. `seggpt segment` is a thin front end over these three calls:

    inputs = collect_inputs(["photos/", "extra/*.jpg"])
    check_outputs(out_dir, [f.path for f in inputs], ["label", "overlay"], protected=[prompt, mask])
    counts = segment_files(segmenter, inputs, out_dir, ["label", "overlay"], skip_existing=True)

Output files are the `writers.OUTPUTS` formats, each written atomically.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from seggpt.atomic import atomic_write, clean_stale_temps
from seggpt.data.io import load_rgb
from seggpt.inference.writers import output_paths, write_outputs
from seggpt.safety import OutputError, check_no_collisions, check_not_inputs, entry_key

if TYPE_CHECKING:
    from seggpt.inference.segmenter import Segmenter

Progress = Callable[[Path, "str | None"], None]
"""Called once per input when it is done: (path, None) when written or skipped, (path, why) when unreadable."""


class InputFile(NamedTuple):
    """One image to segment; `named` files were given by name and must be readable (folder and glob files may
    be skipped when unreadable)."""

    path: Path
    named: bool


@dataclass(frozen=True)
class SegmentCounts:
    """What `segment_files` did: inputs written, skipped (all outputs existed) and failed (unreadable)."""

    written: int = 0
    skipped: int = 0
    failed: int = 0


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def collect_inputs(specs: Sequence[str]) -> list[InputFile]:
    """Expand FILE|DIR|GLOB specs, in order: a file as given, a folder's files sorted (hidden ones left out),
    a glob's matching files sorted. Duplicates are kept once.

    Raises:
        FileNotFoundError: a spec that is no file, folder or glob.
        ValueError: a glob matching no file; two inputs with one stem (they would write the same outputs).
    """
    found: list[InputFile] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_file():
            found.append(InputFile(path, True))
        elif path.is_dir():
            found.extend(
                InputFile(f, False) for f in sorted(path.iterdir()) if f.is_file() and not f.name.startswith(".")
            )
        elif _is_glob(spec):
            matches = sorted(Path(m) for m in glob.glob(str(path)) if Path(m).is_file())
            if not matches:
                raise ValueError(f"--input {spec!r} matched no files; expected a glob matching at least one image")
            found.extend(InputFile(m, False) for m in matches)
        else:
            raise FileNotFoundError(f"--input {spec}: no such file or folder")
    stems: dict[str, Path] = {}
    for f, _ in found:
        if f.stem in stems and stems[f.stem] != f:
            raise ValueError(f"inputs {stems[f.stem]} and {f} would write the same outputs (same name {f.stem!r})")
        stems[f.stem] = f
    return list(dict.fromkeys(found))


_PROBE_ID = 987654321  # a class id no prompt has: marks where a format's file names hold the class id
_PROBE_STEM = "\x00stem\x00"


def _id_patterns(out_dir: Path, formats: Sequence[str]) -> list[re.Pattern[str]]:
    """For each format whose file names hold class ids (unknown before the prompts are read): a regex of its
    names, group 1 = the input stem."""
    patterns = []
    for fmt in formats:
        with_id = set(output_paths(out_dir, _PROBE_STEM, [fmt], np.array([_PROBE_ID])))
        for path in with_id - set(output_paths(out_dir, _PROBE_STEM, [fmt], np.zeros(0, np.int64))):
            template = re.escape(path.name).replace(re.escape(_PROBE_STEM), "(.+)").replace(str(_PROBE_ID), r"\d+")
            patterns.append(re.compile(template))
    return patterns


def check_outputs(
    out_dir: Path,
    inputs: Sequence[Path],
    formats: Sequence[str],
    protected: Sequence[Path],
    *,
    input_folders: Sequence[Path] = (),
) -> None:
    """Refuse, before any model work, outputs that are inputs (or `protected` files), outputs written twice and
    an `out_dir` that is one of the `input_folders` (folders given as inputs: the next run would read the results
    as inputs); then remove the litter of killed runs from `out_dir`.

    The class ids are not known yet, so a name such as `STEM_mask_<digits>.png` counts as an output of STEM.

    Raises:
        OutputError: with one line naming the clash.
    """
    no_ids = np.zeros(0, np.int64)
    planned = [
        (path, f"the {fmt} output of {source}")
        for source in inputs
        for fmt in formats
        for path in output_paths(out_dir, source.stem, [fmt], no_ids)
    ]
    check_no_collisions(planned)
    check_not_inputs([path for path, _ in planned], [*inputs, *protected])
    for folder in input_folders:
        if os.path.realpath(folder) == os.path.realpath(out_dir):
            raise OutputError(
                f"output folder {out_dir} is the input folder {folder}: the results would be read as inputs by the "
                "next run; choose another output folder"
            )
    _check_id_names(out_dir, inputs, protected, planned, _id_patterns(out_dir, formats))
    clean_stale_temps(out_dir)


def _check_id_names(
    out_dir: Path,
    inputs: Sequence[Path],
    protected: Sequence[Path],
    planned: list[tuple[Path, str]],
    patterns: list[re.Pattern[str]],
) -> None:
    """Refuse a planned output or input in `out_dir` whose name is also a class-id output name of an input."""
    if not patterns:
        return
    owners = {source.stem: source for source in inputs}
    out_key = os.path.realpath(out_dir)
    taken = planned + [
        (Path(alias), f"the input {source}")
        for source in [*inputs, *protected]
        for alias in (os.path.realpath(source), entry_key(source))
        if os.path.dirname(alias) == out_key
    ]
    for path, what in taken:
        for pattern in patterns:
            match = pattern.fullmatch(path.name)
            if match and match.group(1) in owners:
                raise OutputError(
                    f"{out_dir / path.name} would be both an output of {owners[match.group(1)]} and {what}; "
                    "choose another output folder or rename the input"
                )


RUN_RECORD = ".seggpt-segment.json"  # the `Segmenter.run_settings` every output in the folder was written with


def _read_record(path: Path) -> dict[str, Any] | None:
    """The settings a folder's outputs were written with; None when unknown (no record, or not a readable one)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def segment_files(
    segmenter: Segmenter,
    inputs: Sequence[InputFile],
    out_dir: Path,
    formats: Sequence[str],
    *,
    skip_existing: bool = False,
    on_progress: Progress | None = None,
) -> SegmentCounts:
    """Read, segment (in batches of `segmenter.batch_size`) and write every input; the prompts must be set.

    Args:
        segmenter: a Segmenter holding its prompts.
        inputs: from `collect_inputs`; unreadable files not `named` are skipped and counted as failed.
        out_dir: an existing folder for the outputs.
        formats: `writers.OUTPUTS` names.
        skip_existing: leave out inputs whose outputs all exist already and are newer than the input (resume an
            interrupted run). The folder's `RUN_RECORD` must show they were written with this segmenter's
            `run_settings`: outputs of other settings, or of a folder several runs wrote into, are refused.
        on_progress: called once per input when it is done (see `Progress`).

    Raises:
        ValueError: a `named` input is unreadable; with `skip_existing`, outputs the record does not vouch for.
    """
    written = skipped = failed = 0
    pending: list[tuple[Path, NDArray[np.uint8]]] = []
    report = on_progress or (lambda path, why: None)

    def done(source: Path) -> bool:
        paths = output_paths(out_dir, source.stem, formats, segmenter.class_ids)
        try:
            return min(p.stat().st_mtime_ns for p in paths) >= source.stat().st_mtime_ns
        except OSError:  # an output (or the input) is missing
            return False

    record, settings = out_dir / RUN_RECORD, segmenter.run_settings()
    stored = _read_record(record)
    earlier = out_dir.is_dir() and any(not p.name.startswith(".") for p in out_dir.iterdir())
    if skip_existing and stored != settings and any(done(path) for path, _ in inputs):
        changed = sorted(k for k in settings if stored.get(k) != settings[k]) if stored else []
        why = f"other settings ({', '.join(changed)})" if changed else "no record of their settings (several runs)"
        raise ValueError(
            f"{out_dir} holds outputs written with {why}; --skip-existing would keep them beside this run's: "
            "choose another --output or run without --skip-existing"
        )
    if stored is not None and stored != settings and earlier:
        record.unlink()  # outputs of two settings from now on: no resume trusts this folder
    recorded = stored == settings or earlier  # a fresh folder is recorded once it holds this run's outputs

    def flush() -> None:
        nonlocal written, recorded
        for (source, _), prediction in zip(pending, segmenter.segment([image for _, image in pending])):
            write_outputs(out_dir, source, prediction, formats)
            written += 1
            report(source, None)
            if not recorded:
                atomic_write(record, lambda tmp: tmp.write_text(json.dumps(settings, indent=2) + "\n"))
                recorded = True
        pending.clear()

    for path, named in inputs:
        if skip_existing and done(path):
            skipped += 1
            report(path, None)
            continue
        try:
            pending.append((path, load_rgb(path)))
        except ValueError as err:
            if named:
                raise
            failed += 1
            report(path, str(err))
        if len(pending) == segmenter.batch_size:
            flush()
    flush()
    return SegmentCounts(written, skipped, failed)
