"""The pipelines of the published models, registered with transformers once its pipelines module is imported.

Each pipeline module registers itself at its end when it is imported as part of this package (not when a model
folder's copy of it runs as remote code); here, its import is only triggered at the right time.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

PIPELINES_MODULE = "transformers.pipelines"
PIPELINE_MODULES = ("speedy.qa_pipeline", "speedy.word_pipeline")


def register() -> None:
    """Import the pipeline modules, which register their pipelines with transformers."""
    for module in PIPELINE_MODULES:
        importlib.import_module(module)  # one being imported right now registers itself when it is done


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `register` right after transformers' pipelines module is first imported."""

    def find_spec(self, name, path, target=None):
        if name != PIPELINES_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            register()

        spec.loader.exec_module = exec_module
        return spec


def register_when_imported() -> None:
    """Register now if transformers' pipelines are already imported, else as soon as they are."""
    if PIPELINES_MODULE in sys.modules:
        register()
    elif not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
