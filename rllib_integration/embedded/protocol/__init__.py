"""CARLA 0.9.16 wire protocol: msgpack-rpc server, streaming server and value codecs."""
