"""The parents' web page: an aiohttp application in the filter's own loop, its
JSON API under /api/ (documented by /api/openapi.json, made from the route
table), login, sessions and the defences against the child on the same Wi-Fi.
May import ``service`` and everything below it; nothing imports it but ``cli``.
"""
