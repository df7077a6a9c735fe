"""The pure core: decisions, precedence, the policy snapshot, schedules, budget
arithmetic, tags, domain names, safe search, bypass and device identity.
No I/O, no asyncio, no database, no DNS library: imports only ``errors``.
"""
