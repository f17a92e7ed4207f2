"""Rate budgets shared by every replica: one token bucket per vendor account in the store."""
from __future__ import annotations


class RateBuckets:
    """The store's shared rate budgets (table ``rate_buckets``)."""
