"""The running filter: assembling the parts from the configuration, keeping the
family policy in force (store -> snapshot), the query log (buffer -> writer),
device discovery and readiness. May import ``dns``, ``lists``, ``store``,
``config``, ``policy``; imported by ``cli`` and ``web`` only.
"""
