"""Keep the grid point with the lowest validation loss as the published model, with a model card (rule publish)."""

import json
import shutil
from pathlib import Path

from speedy.logs import log_to
from speedy.models import model_card

with log_to(snakemake.log[0]):
    runs = [(json.loads(Path(m).read_text()), d) for m, d in zip(snakemake.input.metrics, snakemake.input.models)]
    best, best_dir = min(runs, key=lambda run: run[0]["validation"]["loss"])
    scores = {**best, "kind": snakemake.wildcards.kind}
    print(f"best of {len(runs)} grid points: {best['grid']} (validation loss {best['validation']['loss']:.4f})")
    shutil.copytree(best_dir, snakemake.output.model)
    Path(snakemake.output.model, "README.md").write_text(model_card(scores, snakemake.params.base))
    Path(snakemake.output.scores).write_text(json.dumps(scores, indent=2))
