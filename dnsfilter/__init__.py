"""dnsfilter: a parental-control DNS filter for home networks."""

__version__ = "0.1.0"
