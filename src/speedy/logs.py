"""Send a job's output to its Snakemake log file while it runs."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import Any


@contextlib.contextmanager
def log_to(path: str, resources: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Redirect stdout, stderr and `logging` (INFO) to `path`, line-buffered so `tail -f` shows progress.

    `resources`, a job's Snakemake resources (estimated by speedy.resources for training jobs), start the log.
    """
    with open(path, "w", buffering=1, encoding="utf-8") as stream:
        root = logging.getLogger()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        hf_logging = sys.modules.get("transformers.utils.logging")
        if hf_logging is not None:  # transformers' own messages go to this log, not the console
            hf_logging.disable_default_handler()
            hf_logging.enable_propagation()
        try:
            if resources is not None:
                logging.info("resources: %s", ", ".join(f"{k}={v}" for k, v in resources.items() if not k.startswith("_")))
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield
        except BaseException:
            logging.exception("job failed")
            raise
        finally:
            root.removeHandler(handler)
