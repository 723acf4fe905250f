"""Loading: clip sampling, the resumable batch sampler, and datasets that decode whole planned batches."""
