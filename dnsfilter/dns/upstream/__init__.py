"""Asking upstream resolvers: the pool with failover, the UDP, TCP, TLS and
HTTPS transports, and the servers' addresses.
"""
