"""Watchers: a post going viral, a spike of mentions; both escalate in the helpdesk."""
