"""Leases: which replica does which one-at-a-time work (a route's stream poller, a scheduled
job), with fencing tokens so a replica that lost a lease cannot write as its holder."""
from __future__ import annotations


class Leases:
    """The store's leases and replicas (tables ``leases`` and ``replicas``)."""
