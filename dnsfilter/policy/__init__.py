"""Deciding what to do with a query: lists, clients, schedules, the engine."""
