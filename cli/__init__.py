"""The application layer: commands, the demo, and the wiring of sandbox and daemon.

It is the only code that imports ``sandbox``; ``sync`` and ``adapters`` never do.
"""
