"""Training logs: a CSV file (always) and TensorBoard (when `torch.utils.tensorboard` can be imported)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

CSV_FIELDS = ("step", "lr", "loss", "eval_miou", "seconds")


class RunLogger:
    """Append rows to `<output_dir>/log.csv` and scalars to TensorBoard; a no-op on ranks other than 0.

    Rows past `start_step` from an earlier, interrupted run are dropped on resume, so the log has each step once.
    """

    def __init__(self, output_dir: str | Path, enabled: bool = True, tensorboard: bool = True, start_step: int = 0):
        self.enabled = enabled
        self.note = ""
        self.writer: Any = None
        if not enabled:
            return
        self.path = Path(output_dir) / "log.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if self.path.is_file() and start_step > 0:
            with self.path.open(newline="") as f:
                kept = [row for row in csv.DictReader(f) if int(row["step"]) <= start_step]
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(kept)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(Path(output_dir) / "tensorboard"), purge_step=start_step or None)
            except ImportError as err:
                self.note = f"TensorBoard logging skipped ({err}); the CSV log is written"

    def log(self, step: int, lr: float, loss: float, seconds: float, eval_miou: float = math.nan) -> None:
        """One row: step (optimizer steps done), learning rate, mean loss since the last row, eval mIoU, wall time."""
        if not self.enabled:
            return
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow(
                [
                    step,
                    f"{lr:.6g}",
                    f"{loss:.6g}",
                    "" if math.isnan(eval_miou) else f"{eval_miou:.3f}",
                    f"{seconds:.1f}",
                ]
            )
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("train/lr", lr, step)
            if not math.isnan(eval_miou):
                self.writer.add_scalar("eval/miou", eval_miou, step)

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self.writer is not None:
            self.writer.close()
