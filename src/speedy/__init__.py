"""Speedy Gonzales: fine-tuning, teacher caching, distillation and benchmarks for Spanish models."""
