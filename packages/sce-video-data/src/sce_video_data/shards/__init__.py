"""The shard format: writing (:mod:`.writer`, :mod:`.build`), reading (:mod:`.reader`) and checking (:mod:`.check`)."""
