"""Speedy Gonzales: fine-tuning, teacher caching, distillation and benchmarks for Spanish models.

Importing this package registers its pipelines with transformers ("question-answering", which transformers 5
lacks, and "word-classification"): see `speedy.pipelines`. The registration waits until transformers'
pipelines are imported, so that importing speedy stays fast.
"""

from speedy.pipelines import register_when_imported

register_when_imported()
