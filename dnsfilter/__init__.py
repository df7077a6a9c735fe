"""dnsfilter: a parental-control DNS filter for home networks."""

from pathlib import Path

__version__ = "0.1.0"


def shipped_folder(name: str) -> Path:
    """A folder that ships with dnsfilter (``blocklists``, ``webui``): inside the
    installed package, or at the top of the source tree in a checkout."""
    package = Path(__file__).resolve().parent
    installed = package / name
    return installed if installed.is_dir() else package.parent / name
