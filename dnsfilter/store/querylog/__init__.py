"""The query log in the database: its tables, writing batches, reading pages and
day summaries, and pruning by age.
"""
