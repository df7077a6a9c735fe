"""DNS wire format, listeners, upstream clients and the answer cache.

Only this package touches DNS bytes.
"""
