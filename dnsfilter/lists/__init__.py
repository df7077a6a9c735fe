"""Blocklists: the catalog, list formats and checks, the downloaded copies, the
updater, and the compiled memory-mapped index with its lookup. May import
``policy`` (name rules, tags) and ``yamlschema``; never ``dns`` or ``store``.
"""
