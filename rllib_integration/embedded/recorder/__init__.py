"""CARLA 0.9.16's recorder and replayer for the embedded server (reference/carla_recorder.md).

format: the binary file layout; writer: a recording, frame by frame from the world; reader: the
file's header and packets, bounds-checked; queries: the show_recorder_* texts; replayer: a
recording played back into the world; paths: which file names a client may use; service: the
`Recorder` the RPCs call and its hooks into the world's tick.
"""
