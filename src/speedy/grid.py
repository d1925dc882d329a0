"""A grid point's folder, the one output of a training job: its model, metrics.json and predictions.json."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class GridPoint:
    """The files in one grid point's folder (written by training.run_grid_job, read by publish.publish_best)."""

    folder: str

    @property
    def model(self) -> str:
        """The trained model's folder (emptied by publish unless the point won)."""
        return os.path.join(self.folder, "model")

    @property
    def metrics(self) -> str:
        """The point's settings, validation losses and training record."""
        return os.path.join(self.folder, "metrics.json")

    @property
    def predictions(self) -> str:
        """The validation and test predictions with their references."""
        return os.path.join(self.folder, "predictions.json")
