"""Codecs: PyAV video decoding (:mod:`.video`) and the CPU/GPU JPEG decoders of stored frames (:mod:`.jpeg`)."""
