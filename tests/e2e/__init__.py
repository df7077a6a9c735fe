"""The parents' page in a real browser (chromium through Playwright) against a real filter.

Run: .venv/bin/python -m pytest -q tests/e2e  (needs `apt-get install chromium` and the
`test` extra; without them the tests skip and say why). The run also rewrites
docs/screenshots/*.png.
"""
