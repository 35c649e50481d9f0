"""peerbot's runtime: the neutral message model, the engine, the store,
configuration, and the channels that carry messages to and from people."""

__version__ = "0.1.0"
