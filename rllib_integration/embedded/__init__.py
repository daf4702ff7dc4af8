"""Embedded CARLA-compatible server: speaks CARLA 0.9.16's wire protocol.

Layers, each importing only those below it (tests/embedded/test_server_layers.py checks the seam
between the protocol and the simulation):

    __main__.py cli.py app.py   the process: flags, ports, the event loop
    protocol/                   the wire, all of it: rpc_server (msgpack-rpc), stream_server
                                (streaming port), handlers (the RPC and batch-command tables),
                                ignored (RPCs accepted and ignored), codec (every wire shape),
                                world_streams (the world's output, framed), tm_gate and
                                tm_watchdog (a client Traffic Manager's lost wake-up)
    world.py                    actors, episode settings, the tick; wire-free
    physics.py blueprints.py scene.py map_source.py sensors/ maps/
"""
