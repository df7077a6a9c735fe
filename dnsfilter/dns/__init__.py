"""DNS on the wire: packets, EDNS options, listeners, the resolver pipeline, the
answer cache and the upstream clients. Only this package touches DNS bytes.
May import ``policy``; never ``store``, ``lists``, ``config``, ``web`` or ``cli``.
"""
