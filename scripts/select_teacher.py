"""Pick the published fine-tuned model with the lowest validation loss as a dataset's teacher (rule select_teacher)."""

import json

from speedy.logs import log_to

with log_to(snakemake.log[0]):
    scores = [json.loads(open(path).read()) for path in snakemake.input.scores]
    best = min(scores, key=lambda s: s["validation"]["loss"])
    teacher = {
        "dataset": best["dataset"],
        "model": best["model"],
        "grid": best["grid"],
        "validation_loss": best["validation"]["loss"],
        "path": f"results/models/finetuned/{best['dataset']}/{best['model']}",
        "candidates": {s["model"]: s["validation"]["loss"] for s in scores},
    }
    print(f"teacher for {best['dataset']}: {best['model']} (validation loss {teacher['validation_loss']:.4f})")
    open(snakemake.output[0], "w").write(json.dumps(teacher, indent=2))
