"""Finding what a parent names on the command line: a profile by its name.

Names are compared the way people type them: Unicode-normalised, without
surrounding spaces, ignoring case.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from dnsfilter.errors import DnsFilterError
from dnsfilter.policy.explain import shown
from dnsfilter.store import ProfileData


def folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


def find_profile(profiles: Sequence[ProfileData], text: str, error: type[DnsFilterError]) -> ProfileData:
    """The profile called ``text``; ``error`` (listing the profiles) when there is none."""
    wanted = folded(text)
    for profile in profiles:
        if folded(profile.name) == wanted:
            return profile
    names = ", ".join(f'"{shown(profile.name)}"' for profile in profiles)
    raise error(f'There is no profile called "{shown(text.strip())}". The profiles are: {names}.')
