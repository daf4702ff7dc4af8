"""The world's output on CARLA's streaming port (the `world.StreamSink` of the server).

Frames sensor payloads behind their 48-byte header, encodes the episode state, keeps the latest
state for new subscribers, and describes actors as rpc::Actor (their streams' tokens need the
streaming port, which only this layer knows).
"""

from __future__ import annotations

import weakref

from rllib_integration.embedded.protocol import codec
from rllib_integration.embedded.protocol.stream_server import StreamHub
from rllib_integration.embedded.world import EPISODE_STREAM_ID, Actor, World


class WorldStreams:
    def __init__(self, hub: StreamHub, stream_port: int) -> None:
        self.hub = hub
        self.stream_port = stream_port
        self.has_subscribers = hub.has_subscribers
        self.last_state: bytes | None = None  # sent at once to a new episode-stream subscriber
        # An actor's description never changes; dropped with the actor.
        self._actor_wire: weakref.WeakKeyDictionary[Actor, list] = weakref.WeakKeyDictionary()

    def publish_sensor(
        self,
        stream_id: int,
        type_id: int,
        frame: int,
        timestamp: float,
        pose: tuple[float, ...],
        payload: bytes,
    ) -> None:
        header = codec.sensor_header(type_id, frame, timestamp, pose)
        self.hub.publish(stream_id, codec.framed(header, payload))

    def publish_state(self, world: World) -> None:
        self.last_state = codec.state_message(world)
        self.hub.publish(EPISODE_STREAM_ID, self.last_state)

    def token(self, stream_id: int) -> bytes:
        return codec.token(stream_id, self.stream_port)

    def episode_token(self) -> bytes:
        """A fresh alias of the episode stream each time: every client Episode listens under its
        own stream id (see stream_server)."""
        return self.token(self.hub.alias(EPISODE_STREAM_ID))

    def describe(self, actor: Actor | None) -> list:
        """rpc::Actor of `actor` (None: the static world, e.g. the edge of the map)."""
        if actor is None:
            return codec.world_edge_wire()
        wire = self._actor_wire.get(actor)
        if wire is None:
            wire = self._actor_wire[actor] = codec.actor_wire(actor, self.stream_port)
        return wire
