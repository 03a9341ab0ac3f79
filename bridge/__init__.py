"""musicgen-bridge: a local MusicGen daemon for DAWs."""
__version__ = "0.1.0"
