"""Tags: the categories and services a name can belong to, as bits of an int.

Bit i of a mask stands for ``tag_names[i]``. Categories use their catalog id
("adult"), services are prefixed ("service:tiktok"), so the two can never
clash. Masks make "is this name blocked for this child" one AND.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

SERVICE_PREFIX = "service:"


class TagIndex(Protocol):
    """Which tags each name carries: the compiled list index
    (``dnsfilter.lists.index.DomainIndex``) as the policy sees it."""

    @property
    def tag_names(self) -> tuple[str, ...]:
        """Bit i of a mask stands for ``tag_names[i]``."""
        ...

    def tags(self, name: str) -> int:
        """The mask of ``name`` (or of the closest listed parent); 0 when unlisted."""
        ...


class NoTags:
    """An index that lists nothing: the policy before any list is open."""

    tag_names: tuple[str, ...] = ()

    def tags(self, name: str) -> int:
        return 0


def service_tag(service_id: str) -> str:
    return SERVICE_PREFIX + service_id


def mask_of(tag_names: Sequence[str], tags: Iterable[str]) -> int:
    """The mask of ``tags``; tags the index does not know match nothing."""
    position = {name: bit for bit, name in enumerate(tag_names)}
    mask = 0
    for tag in tags:
        bit = position.get(tag)
        if bit is not None:
            mask |= 1 << bit
    return mask


def names_of(tag_names: Sequence[str], mask: int) -> list[str]:
    """The tags in ``mask``, in bit order (categories first)."""
    return [name for bit, name in enumerate(tag_names) if mask >> bit & 1]
