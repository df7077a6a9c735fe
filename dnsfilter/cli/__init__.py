"""The ``dnsfilter`` command: one module per command group, one time parser and
one device/profile lookup for them all. May import every other part; nothing
imports it.
"""
