"""Local HTTPS stand-ins for the remote APIs (the other side of the wire)."""
