"""The offline XImageNet-12 pipeline: sources -> plan -> workers -> Parquet shards -> card -> Hub.

Installed as `ximagenet12_builder`; reached through the `ximagenet12` CLI.
"""
