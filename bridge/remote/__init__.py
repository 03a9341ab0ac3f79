"""The remote engine: generation on another machine, the daemon stays next to the DAW.

- :mod:`bridge.remote.wire` — the worker API's values (version, limits, request body, arrays as
  base64), shared by both sides and free of any web framework.
- :mod:`bridge.remote.app` — ``musicgen-bridge worker``'s HTTP app (Starlette) and its job runner.
- :mod:`bridge.remote.worker_main` — the ``worker`` command: load the model, serve with uvicorn.
- :mod:`bridge.remote.client` — :class:`RemoteEngine`, an :class:`bridge.engine.Engine` whose
  ``generate`` runs on one of several workers (retries, busy waits, cancel).
- :mod:`bridge.remote.farm` — the same app as a Ray Serve deployment (the ``[farm]`` extra).

docs/remote.md says how to run it; docs/protocol.md "Worker API" is the contract.
"""
